import { createServer } from "node:http";
import express from "express";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
let as: RunningProvider;
let api: { url: string; close: () => Promise<void> };
const seen: Array<{ token: string; body: unknown; status: number }> = [];
const refused = new Set<string>();
let refuseNext = false;

beforeAll(async () => {
  as = await startProvider();
  const jwks = createLocalJWKSet(as.jwks);
  const app = express();
  app.use(express.json());
  app.all("/data", async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const record = { token, body: req.body, status: 200 };
    seen.push(record);
    // Simulates a token the API no longer accepts (revoked, rotated keys, changed permissions).
    if (refuseNext) {
      refuseNext = false;
      refused.add(token);
    }
    try {
      if (refused.has(token)) throw new Error("refused");
      const { payload } = await jwtVerify(token, jwks, { issuer: as.issuer, audience: API });
      res.json({ ok: true, client: payload.client_id, echo: req.body });
    } catch {
      record.status = 401;
      res
        .status(401)
        .set("www-authenticate", 'Bearer error="invalid_token"')
        .json({ error: "invalid_token" });
    }
  });
  api = await listen(createServer(app));
});
afterAll(async () => {
  await api.close();
  await as.close();
});
beforeEach(() => {
  seen.length = 0;
  as.resetCount();
});

function newClient() {
  return new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
  });
}

describe("client.fetch", () => {
  it("sends the cached token as a Bearer credential", async () => {
    const client = newClient();
    for (let i = 0; i < 3; i++) {
      const res = await client.fetch(`${api.url}/data`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, client: "basic-client" });
    }
    expect(as.tokenRequests).toBe(1);
    expect(new Set(seen.map((s) => s.token)).size).toBe(1);
  });

  it("after a 401 from the API: one new token, one retry, success", async () => {
    const client = newClient();
    await client.getToken();
    expect(as.tokenRequests).toBe(1);
    refuseNext = true;
    const res = await client.fetch(`${api.url}/data`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ n: 1 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, echo: { n: 1 } });
    expect(as.tokenRequests).toBe(2);
    expect(seen.map((s) => s.status)).toEqual([401, 200]);
    expect(seen[0]?.token).not.toBe(seen[1]?.token);
    // The new token is the cached one from now on.
    await client.fetch(`${api.url}/data`);
    expect(as.tokenRequests).toBe(2);
    expect(seen[2]?.token).toBe(seen[1]?.token);
  });

  it("a Request with a body is replayed after a 401", async () => {
    const client = newClient();
    refuseNext = true;
    const request = new Request(`${api.url}/data`, {
      method: "PUT",
      headers: { "content-type": "application/json", "x-trace": "t1" },
      body: JSON.stringify({ n: 2 }),
    });
    const res = await client.fetch(request);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ echo: { n: 2 } });
    expect(seen).toHaveLength(2);
  });

  it("retries only once: a second 401 is returned to the caller", async () => {
    const client = newClient();
    const res = await client.fetch(`${api.url}/data`, { audience: "https://billing.example.com" });
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(2);
    expect(as.tokenRequests).toBe(2);
  });
});
