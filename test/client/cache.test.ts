import { decodeJwt } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent, OAuthError } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
const BILLING = "https://billing.example.com";
const LIFETIME_SECONDS = 600;
let as: RunningProvider;

beforeAll(async () => {
  as = await startProvider({
    apis: [
      { identifier: API, scopes: ["read:data", "write:data"], ttlSeconds: LIFETIME_SECONDS },
      { identifier: BILLING, scopes: ["read:invoices"] },
    ],
  });
});
afterAll(() => as.close());
beforeEach(() => as.resetCount());

function newClient(extra: Partial<ConstructorParameters<typeof ClientCredentialsClient>[0]> = {}) {
  return new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    ...extra,
  });
}

describe("token cache", () => {
  it("100 sequential calls make one token request", async () => {
    const client = newClient();
    const first = await client.getToken({ audience: API, scope: ["read:data"] });
    for (let i = 0; i < 99; i++) {
      const token = await client.getToken({ audience: API, scope: ["read:data"] });
      expect(token.accessToken).toBe(first.accessToken);
    }
    expect(as.tokenRequests).toBe(1);
  });

  it("500 concurrent cold calls share exactly one request", async () => {
    const client = newClient();
    const tokens = await Promise.all(
      Array.from({ length: 500 }, () => client.getToken({ audience: API, scope: "read:data" })),
    );
    expect(as.tokenRequests).toBe(1);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
  });

  it("the scope set is the key, not its spelling or order", async () => {
    const client = newClient();
    const a = await client.getToken({ audience: API, scope: ["write:data", "read:data"] });
    const b = await client.getToken({ audience: API, scope: "read:data write:data" });
    const c = await client.getToken({ audience: API, scope: ["read:data", "write:data", "read:data"] });
    expect(b.accessToken).toBe(a.accessToken);
    expect(c.accessToken).toBe(a.accessToken);
    expect(as.tokenRequests).toBe(1);
  });

  it("distinct audiences and scope sets get distinct requests and tokens", async () => {
    const client = newClient();
    const requests = [
      { audience: API, scope: ["read:data"] },
      { audience: API, scope: ["write:data"] },
      { audience: API, scope: ["read:data", "write:data"] },
      { audience: BILLING, scope: ["read:invoices"] },
    ];
    const tokens = await Promise.all(requests.map((r) => client.getToken(r)));
    expect(as.tokenRequests).toBe(4);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(4);
    tokens.forEach((token, i) => {
      const claims = decodeJwt(token.accessToken);
      expect(claims.aud).toBe(requests[i]?.audience);
      expect(claims.scope).toBe(requests[i]?.scope.join(" "));
    });
    // And each is cached under its own key.
    await Promise.all(requests.map((r) => client.getToken(r)));
    expect(as.tokenRequests).toBe(4);
  });

  it("two clients never share a cache entry", async () => {
    await newClient().getToken({ audience: API });
    await newClient().getToken({ audience: API });
    expect(as.tokenRequests).toBe(2);
  });

  it("forceRefresh gets a new token", async () => {
    const client = newClient();
    const a = await client.getToken({ audience: API });
    const b = await client.getToken({ audience: API, forceRefresh: true });
    expect(b.accessToken).not.toBe(a.accessToken);
    expect((await client.getToken({ audience: API })).accessToken).toBe(b.accessToken);
    expect(as.tokenRequests).toBe(2);
  });

  it("invalidate({ audience }) drops every scope set of that audience, invalidate() drops all", async () => {
    const client = newClient();
    await client.getToken({ audience: API, scope: "read:data" });
    await client.getToken({ audience: API, scope: "write:data" });
    await client.getToken({ audience: BILLING });
    expect(as.tokenRequests).toBe(3);
    await client.invalidate({ audience: API });
    await client.getToken({ audience: API, scope: "read:data" });
    await client.getToken({ audience: API, scope: "write:data" });
    await client.getToken({ audience: BILLING });
    expect(as.tokenRequests).toBe(5);
    await client.invalidate();
    await client.getToken({ audience: API, scope: "read:data" });
    await client.getToken({ audience: BILLING });
    expect(as.tokenRequests).toBe(7);
  });

  it("expiresAt counts from when the request was sent", async () => {
    const clock = new ManualClock();
    const sentAt = clock.now();
    const token = await newClient({ clock }).getToken({ audience: API });
    expect(token.expiresAt).toBe(sentAt + LIFETIME_SECONDS * 1000);
  });
});

describe("refresh", () => {
  it("over a long run: never an expired token, one refresh per lifetime, inside the window", async () => {
    const clock = new ManualClock();
    const events: ClientEvent[] = [];
    let refreshDone: Promise<void> | undefined;
    let settle: (() => void) | undefined;
    const client = newClient({
      clock,
      onEvent: (event) => {
        events.push(event);
        if (event.type === "refresh_started") refreshDone = new Promise((resolve) => (settle = resolve));
        if ((event.type === "token_fetched" || event.type === "token_failed") && event.background) settle?.();
      },
    });
    const lifetimeMs = LIFETIME_SECONDS * 1000;
    // Default window for a 600 s token: max(60 s, 10%) = 60 s, shortened by up to 10% jitter.
    const windowMs = 60_000;
    let current = await client.getToken({ audience: API });
    const start = clock.now();
    const seen = new Set([current.accessToken]);
    const refreshStarts: Array<{ at: number; expiresAt: number }> = [];

    while (clock.now() - start < 4 * lifetimeMs) {
      clock.advance(1_000);
      const token = await client.getToken({ audience: API });
      expect(token.expiresAt).toBeGreaterThan(clock.now());
      const last = events.at(-2);
      if (last?.type === "refresh_started") {
        // The caller that started the refresh still got the old, valid token.
        expect(token.accessToken).toBe(current.accessToken);
        refreshStarts.push({ at: clock.now(), expiresAt: last.expiresAt });
        await refreshDone;
      }
      if (!seen.has(token.accessToken)) {
        seen.add(token.accessToken);
        current = token;
      }
    }

    const refreshes = events.filter((e) => e.type === "refresh_started").length;
    expect(refreshes).toBe(refreshStarts.length);
    // 4 lifetimes, each shortened by its refresh window: 4 refreshes (not 3, not 8).
    expect(refreshStarts.length).toBe(4);
    expect(as.tokenRequests).toBe(1 + refreshStarts.length);
    expect(seen.size).toBe(1 + refreshStarts.length);
    for (const { at, expiresAt } of refreshStarts) {
      expect(at).toBeGreaterThanOrEqual(expiresAt - windowMs);
      expect(at).toBeLessThan(expiresAt);
      // 1 s steps: the refresh starts on the first call inside the (jittered) window.
      expect(at).toBeLessThanOrEqual(expiresAt - windowMs * 0.9 + 1_000);
    }
    expect(events.filter((e) => e.type === "token_fetched" && e.background)).toHaveLength(
      refreshStarts.length,
    );
  });

  it("refreshWindowSeconds sets a fixed window, capped at half the lifetime", async () => {
    const clock = new ManualClock();
    const starts: number[] = [];
    let refreshed!: () => void;
    const refreshDone = new Promise<void>((resolve) => (refreshed = resolve));
    const client = newClient({
      clock,
      refreshWindowSeconds: 400,
      onEvent: (e) => {
        if (e.type === "refresh_started") starts.push(clock.now());
        if (e.type === "token_fetched" && e.background) refreshed();
      },
    });
    const token = await client.getToken({ audience: API });
    // 400 s is capped at half of 600 s; jitter shortens it by up to 10%: the refresh starts
    // between 300 s and 330 s into the lifetime. Uncapped it would start by 240 s.
    clock.advance(299_000);
    await client.getToken({ audience: API });
    expect(starts).toHaveLength(0);
    clock.advance(32_000);
    const during = await client.getToken({ audience: API });
    expect(starts).toHaveLength(1);
    expect(during.accessToken).toBe(token.accessToken);
    await refreshDone;
    expect((await client.getToken({ audience: API })).accessToken).not.toBe(token.accessToken);
  });
});

describe("single flight", () => {
  it("concurrent callers share a failure; the failed key answers it for 10 s, then one new request", async () => {
    const clock = new ManualClock();
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: "wrong-secret",
      clock,
    });
    const first = await Promise.allSettled(
      Array.from({ length: 50 }, () => client.getToken({ audience: API })),
    );
    expect(first.every((r) => r.status === "rejected" && r.reason instanceof OAuthError)).toBe(true);
    expect(as.tokenRequests).toBe(1);
    // A tight loop on a key that failed with invalid_client asks the server nothing for 10 s.
    for (let i = 0; i < 1000; i++) {
      const error = await client.getToken({ audience: API }).catch((e) => e);
      expect(error.error).toBe("invalid_client");
    }
    expect(as.tokenRequests).toBe(1);
    clock.advance(9_999);
    await expect(client.getToken({ audience: API })).rejects.toThrow(OAuthError);
    expect(as.tokenRequests).toBe(1);
    clock.advance(2);
    const second = await Promise.allSettled(
      Array.from({ length: 50 }, () => client.getToken({ audience: API })),
    );
    expect(second.every((r) => r.status === "rejected")).toBe(true);
    expect(as.tokenRequests).toBe(2);
    // invalidate() forgets failed keys at once.
    await client.invalidate();
    await client.getToken({ audience: API }).catch(() => {});
    expect(as.tokenRequests).toBe(3);
  });
});
