/**
 * `m2m-kit/testing` for DPoP: the test issuer mints DPoP-bound tokens (`cnf.jkt`) and the test client
 * sends them with fresh proofs, against a real Express API that requires DPoP.
 */
import { createServer } from "node:http";
import express from "express";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { createVerifier } from "../../src/index.js";
import {
  createDpopProof,
  createTestClient,
  createTestIssuer,
  generateDpopKey,
  type TestIssuer,
} from "../../src/testing/index.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
let issuer: TestIssuer;
let server: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API });
  const verifier = createVerifier({ issuer: issuer.issuer, audience: API, dpop: { required: true } });
  const app = express();
  app.post("/data", requireAuth(verifier, { publicUrl: "host-header" }), (req, res) => {
    res.json({ client: req.auth?.clientId });
  });
  server = await listen(createServer(app));
});
afterAll(async () => {
  await server?.close();
  await issuer?.close();
});

it("createTestClient({ dpop: true }) calls a DPoP-only API; a Bearer test client is refused", async () => {
  const bound = createTestClient(issuer, { client_id: "svc", scope: "read:data" }, { dpop: true });
  for (let i = 0; i < 2; i++) {
    const res = await bound.fetch(`${server.url}/data`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client: "svc" });
  }
  const key = await bound.dpopKey();
  expect(decodeJwt(await bound.token()).cnf).toEqual({ jkt: key?.thumbprint });

  const bearer = createTestClient(issuer, { client_id: "svc" });
  const refused = await bearer.fetch(`${server.url}/data`, { method: "POST" });
  expect(refused.status).toBe(401);
  expect(refused.headers.get("www-authenticate")).toMatch(/^DPoP /);
});

it("mint({ dpopKey }) and createDpopProof for your own HTTP client; a replayed or wrong-method proof is refused", async () => {
  const key = await generateDpopKey("Ed25519");
  const token = await issuer.mint({ client_id: "own" }, { dpopKey: key });
  const url = `${server.url}/data`;
  const proof = await createDpopProof(key, { method: "POST", url, accessToken: token });
  const call = (dpop: string) =>
    fetch(url, { method: "POST", headers: { authorization: `DPoP ${token}`, dpop } });
  expect((await call(proof)).status).toBe(200);
  const replayed = await call(proof);
  expect(replayed.status).toBe(401);
  expect(replayed.headers.get("www-authenticate")).toContain('error="invalid_dpop_proof"');
  const wrongMethod = await call(await createDpopProof(key, { method: "GET", url, accessToken: token }));
  expect(wrongMethod.status).toBe(401);

  // A test client's proofs for another HTTP client.
  const client = createTestClient(issuer, { client_id: "svc" }, { dpop: key });
  const own = await fetch(url, {
    method: "POST",
    headers: { authorization: `DPoP ${await client.token()}`, dpop: await client.dpopProof("POST", url) },
  });
  expect(own.status).toBe(200);
});
