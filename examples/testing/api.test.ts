// Testing your own API with m2m-kit/testing and Vitest. Run: npx vitest run examples/testing
import express from "express";
import { requireAuth, requireScopes } from "m2m-kit/express";
import { createTestClient, createTestIssuer, type TestIssuer } from "m2m-kit/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

let issuer: TestIssuer;
let url: string;
let close: () => void;

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: "https://api.example.com" });
  const app = express();
  app.get(
    "/data",
    requireAuth({ issuer: issuer.issuer, audience: "https://api.example.com" }),
    requireScopes("read:data"),
    (req, res) => {
      res.json({ client: req.auth?.clientId });
    },
  );
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  close = () => server.close();
});
afterAll(async () => {
  close();
  await issuer.close();
});

it("accepts a token with read:data", async () => {
  const token = await issuer.mint({ client_id: "svc", scope: "read:data" });
  const res = await fetch(`${url}/data`, { headers: { authorization: `Bearer ${token}` } });
  expect(await res.json()).toEqual({ client: "svc" });
});

it("createTestClient sends a minted token, like an M2M client", async () => {
  const reader = createTestClient(issuer, { client_id: "reader", scope: "read:data" });
  expect(await (await reader.fetch(`${url}/data`)).json()).toEqual({ client: "reader" });
  const writer = createTestClient(issuer, { client_id: "writer", scope: "write:data" });
  expect((await writer.fetch(`${url}/data`)).status).toBe(403);
});

it("refuses an expired or forged token, and a token without the scope", async () => {
  const expired = await issuer.mint({ scope: "read:data" }, { expiresInSeconds: -60 });
  const forged = await issuer.mint({ scope: "read:data" }, { forged: true });
  const narrow = await issuer.mint({ scope: "write:data" });
  for (const [token, status] of [
    [expired, 401],
    [forged, 401],
    [narrow, 403],
  ] as const) {
    expect((await fetch(`${url}/data`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      status,
    );
  }
});
