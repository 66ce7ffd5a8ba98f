/**
 * `client.fetch`'s answer to a 401, against a real API that verifies oidc-provider's tokens and
 * revokes the first one it sees (as after a secret rotation or an admin action): the first 401 of a
 * token replaces it once however young it is; a replacement refused too (a wrong audience) goes to
 * the caller and the key backs off.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  type ClientEvent,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RevokingApi, startRevokingApi } from "../support/revoking-api.js";

const API = "https://api.example.com";
const BILLING = "https://billing.example.com";
let as: RunningProvider;
let api: RevokingApi;
let url: string;

beforeAll(async () => {
  as = await startProvider();
  api = await startRevokingApi(as, { audience: API });
  url = `${api.url}/data`;
});
afterAll(async () => {
  await api.close();
  await as.close();
});
beforeEach(() => {
  as.resetCount();
  api.reset();
});

function newClient(options: Partial<ClientCredentialsClientOptions> = {}) {
  return new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
    clock: new ManualClock(),
    ...options,
  });
}

const statuses = () => api.requests.map((r) => r.status);

describe("a token the API revoked moments after it was issued", () => {
  it("the first 401 costs exactly one new token request, then 200", async () => {
    const events: ClientEvent[] = [];
    const client = newClient({ onEvent: (e) => events.push(e) });
    // Fetched now: no time passes before the API refuses it.
    const issued = await client.getToken();
    const res = await client.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ n: 1 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(as.tokenRequests).toBe(2);
    expect(statuses()).toEqual([401, 200]);
    expect(api.requests[0]?.token).toBe(issued.accessToken);
    expect(api.requests[1]?.token).not.toBe(issued.accessToken);
    expect(events.filter((e) => e.type === "unauthorized")).toMatchObject([
      { action: "token_replaced", reason: undefined, audience: API },
    ]);
    // The replacement is the cached token from now on.
    expect((await client.fetch(url)).status).toBe(200);
    expect(as.tokenRequests).toBe(2);
    expect(api.requests[2]?.token).toBe(api.requests[1]?.token);
    expect((await client.getToken()).accessToken).toBe(api.requests[1]?.token);
  });

  it("the same when the token was fetched by the call itself", async () => {
    const client = newClient();
    const res = await client.fetch(url);
    expect(res.status).toBe(200);
    expect(as.tokenRequests).toBe(2);
    expect(statuses()).toEqual([401, 200]);
  });

  it("concurrent calls refused with the same token share one replacement", async () => {
    const client = newClient();
    await client.getToken();
    const responses = await Promise.all(Array.from({ length: 8 }, () => client.fetch(url)));
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(as.tokenRequests).toBe(2);
    expect(new Set(api.requests.map((r) => r.token)).size).toBe(2);
    expect(statuses().filter((s) => s === 401)).toHaveLength(8);
  });

  it("a token revoked later in its life is replaced the same way, each time", async () => {
    const clock = new ManualClock();
    const client = newClient({ clock });
    expect((await client.fetch(url)).status).toBe(200);
    clock.advance(120_000);
    api.arm();
    expect((await client.fetch(url)).status).toBe(200);
    expect(as.tokenRequests).toBe(3);
    expect(statuses()).toEqual([401, 200, 401, 200]);
  });

  it("retryOnUnauthorized: false returns the 401 and keeps the token", async () => {
    const events: ClientEvent[] = [];
    const client = newClient({ retryOnUnauthorized: false, onEvent: (e) => events.push(e) });
    const res = await client.fetch(url);
    expect(res.status).toBe(401);
    expect(as.tokenRequests).toBe(1);
    expect(statuses()).toEqual([401]);
    expect(events.filter((e) => e.type === "unauthorized")).toMatchObject([
      { action: "returned", reason: "disabled" },
    ]);
  });
});

describe("a wrong audience: the replacement is refused too", () => {
  it("the 401 goes to the caller; 10 calls cost 2 token requests, then one per back-off period", async () => {
    const clock = new ManualClock();
    const events: ClientEvent[] = [];
    // Tokens for the billing API, sent to the data API: every one is refused.
    const client = newClient({ clock, defaultAudience: BILLING, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 10; i++) {
      const res = await client.fetch(url);
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    expect(as.tokenRequests).toBe(2);
    // The first call sent the token and its replacement; the 9 others the kept replacement once each.
    expect(api.requests).toHaveLength(11);
    const [first, replacement] = api.requests.map((r) => r.token);
    expect(replacement).not.toBe(first);
    expect(api.requests.slice(1).every((r) => r.token === replacement)).toBe(true);
    const refusals = events.filter((e) => e.type === "unauthorized");
    expect(refusals.slice(0, 2)).toMatchObject([
      { action: "token_replaced", audience: BILLING },
      { action: "returned", reason: "fresh_token_refused", backoffMs: 30_000, audience: BILLING },
    ]);
    expect(refusals.slice(2).every((e) => e.type === "unauthorized" && e.reason === "backing_off")).toBe(
      true,
    );
    // The back-off ends: one more replacement, refused too; the back-off doubles to 60 s.
    clock.advance(30_001);
    for (let i = 0; i < 5; i++) await (await client.fetch(url)).body?.cancel();
    expect(as.tokenRequests).toBe(3);
    expect(
      events.filter((e) => e.type === "unauthorized").slice(refusals.length, refusals.length + 2),
    ).toMatchObject([
      { action: "token_replaced" },
      { action: "returned", reason: "fresh_token_refused", backoffMs: 60_000 },
    ]);
    clock.advance(30_001);
    await (await client.fetch(url)).body?.cancel();
    expect(as.tokenRequests).toBe(3);
  });
});
