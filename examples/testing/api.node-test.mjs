// Testing your own API with m2m-kit/testing and node:test. Run: node --test examples/testing/
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { createVerifier } from "m2m-kit";
import { createTestIssuer } from "m2m-kit/testing";
import { authenticate } from "m2m-kit/web";

let issuer;
let server;
let url;

before(async () => {
  issuer = await createTestIssuer({ audience: "https://api.example.com" });
  // cooldownMs: 0 lets a test see rotated keys at once; production keeps the 30 s default.
  const verifier = createVerifier({
    issuer: issuer.issuer,
    audience: "https://api.example.com",
    jwks: { cooldownMs: 0 },
  });
  server = createServer(async (req, res) => {
    const auth = await authenticate(new Request(`http://x${req.url}`, { headers: req.headers }), verifier, {
      requiredScopes: ["read:data"],
    });
    if (auth instanceof Response) {
      res.writeHead(auth.status, Object.fromEntries(auth.headers)).end(await auth.text());
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ client: auth.clientId }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server.close();
  await issuer.close();
});

test("a token with read:data is accepted", async () => {
  const token = await issuer.mint({ client_id: "svc", scope: "read:data" });
  const res = await fetch(`${url}/data`, { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(await res.json(), { client: "svc" });
});

test("a rotated key verifies; a forged token does not", async () => {
  await issuer.rotateKeys();
  const rotated = await issuer.mint({ scope: "read:data" });
  assert.equal((await fetch(`${url}/data`, { headers: { authorization: `Bearer ${rotated}` } })).status, 200);
  const forged = await issuer.mint({ scope: "read:data" }, { forged: true });
  assert.equal((await fetch(`${url}/data`, { headers: { authorization: `Bearer ${forged}` } })).status, 401);
});
