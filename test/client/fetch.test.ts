import { createServer } from "node:http";
import express from "express";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
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
  // An API that refuses every token: the wrong audience, a missing role.
  app.all("/refuses", (req, res) => {
    seen.push({ token: req.headers.authorization ?? "", body: req.body, status: 401 });
    res.status(401).set("www-authenticate", 'Bearer error="invalid_token"').json({ error: "invalid_token" });
  });
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

function newClient(options: Partial<ConstructorParameters<typeof ClientCredentialsClient>[0]> = {}) {
  return new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
    ...options,
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

  it("after a 401 for a token fetched a while ago: one new token, one retry, success", async () => {
    const clock = new ManualClock();
    const client = newClient({ clock });
    await client.getToken();
    expect(as.tokenRequests).toBe(1);
    clock.advance(60_000);
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
    const clock = new ManualClock();
    const client = newClient({ clock });
    await client.getToken();
    clock.advance(60_000);
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
});

describe("client.fetch against an API that answers 401 to every call: no token storm", () => {
  it("10 calls cost 2 token requests: the token is replaced once, the replacement refused too is kept, the key backs off", async () => {
    const events: ClientEvent[] = [];
    const client = newClient({ onEvent: (e) => events.push(e) });
    for (let i = 0; i < 10; i++) {
      const res = await client.fetch(`${api.url}/refuses`);
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    expect(as.tokenRequests).toBe(2);
    expect(seen).toHaveLength(11); // the first call is sent twice
    expect(new Set(seen.map((s) => s.token)).size).toBe(2);
    expect(new Set(seen.slice(1).map((s) => s.token)).size).toBe(1);
    const refusals = events.filter((e) => e.type === "unauthorized");
    expect(refusals.slice(0, 2)).toMatchObject([
      { action: "token_replaced", audience: API },
      { action: "returned", reason: "fresh_token_refused", backoffMs: 30_000, audience: API },
    ]);
    expect(refusals.slice(2).every((e) => e.type === "unauthorized" && e.reason === "backing_off")).toBe(
      true,
    );
  });

  it("with an older cached token: at most 2 token requests for 10 calls, then one more per back-off period", async () => {
    const clock = new ManualClock();
    const client = newClient({ clock });
    await client.getToken();
    clock.advance(60_000);
    as.resetCount();
    for (let i = 0; i < 10; i++) await (await client.fetch(`${api.url}/refuses`)).body?.cancel();
    expect(as.tokenRequests).toBe(1); // the one replacement of the old token
    expect(seen).toHaveLength(11); // the first call is sent twice
    // The back-off (30 s) ends; the next 401 replaces the now older token once, and the back-off doubles.
    clock.advance(31_000);
    for (let i = 0; i < 5; i++) await (await client.fetch(`${api.url}/refuses`)).body?.cancel();
    expect(as.tokenRequests).toBe(2);
    clock.advance(31_000);
    await (await client.fetch(`${api.url}/refuses`)).body?.cancel();
    expect(as.tokenRequests).toBe(2);
  });

  it("retryOnUnauthorized: false: 10 calls, 1 token request, 10 API requests", async () => {
    const clock = new ManualClock();
    const client = newClient({ clock, retryOnUnauthorized: false });
    await client.getToken();
    clock.advance(60_000);
    for (let i = 0; i < 10; i++) {
      const res = await client.fetch(`${api.url}/refuses`);
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    expect(as.tokenRequests).toBe(1);
    expect(seen).toHaveLength(10);
  });

  it('retryOnUnauthorized: "idempotent" resends a GET, not a POST', async () => {
    const clock = new ManualClock();
    const client = newClient({ clock, retryOnUnauthorized: "idempotent" });
    await client.getToken();
    clock.advance(60_000);
    refuseNext = true;
    const post = await client.fetch(`${api.url}/data`, { method: "POST", body: "{}" });
    expect([post.status, seen.length, as.tokenRequests]).toEqual([401, 1, 1]);
    refuseNext = true;
    await client.invalidate();
    await client.getToken();
    clock.advance(60_000);
    const get = await client.fetch(`${api.url}/data`);
    expect([get.status, seen.length, as.tokenRequests]).toEqual([200, 3, 3]);
    expect(() => newClient({ retryOnUnauthorized: "yes" as never })).toThrow(/retryOnUnauthorized/);
  });
});
