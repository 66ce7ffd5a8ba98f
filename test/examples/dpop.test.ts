/** The DPoP example of docs/dpop-mtls.md (examples/dpop-api/server.ts) started as a process, called by a DPoP client. */
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type Started, startProcess } from "../support/process.js";

const root = resolve(import.meta.dirname, "../..");
let provider: RunningProvider;
let app: Started;
let url: string;
beforeAll(async () => {
  provider = await startProvider();
  app = await startProcess(
    join(root, "node_modules/.bin/tsx"),
    ["--tsconfig", "examples/tsconfig.json", "examples/dpop-api/server.ts"],
    {
      cwd: root,
      env: { ISSUER: provider.issuer, PORT: "0" },
      ready: /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    },
  );
  url = app.match[1] as string;
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await provider?.close();
});

it("a client with dpop: true calls the DPoP-only API; a Bearer call is refused with a DPoP challenge", async () => {
  const client = new ClientCredentialsClient({
    issuer: provider.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: "https://api.example.com",
    dpop: true,
  });
  const res = await client.fetch(`${url}/api/data`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ client: "basic-client", boundTo: await client.dpopThumbprint() });
  const token = await client.getToken();
  const bearer = await fetch(`${url}/api/data`, {
    headers: { authorization: `Bearer ${token.accessToken}` },
  });
  expect(bearer.status).toBe(401);
  expect(bearer.headers.get("www-authenticate")).toMatch(/^DPoP error="invalid_token"/);
});
