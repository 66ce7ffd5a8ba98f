import { inspect } from "node:util";
import { SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AccessToken,
  ClientClosedError,
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  type ClientEvent,
  OAuthError,
  TokenRequestError,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, type Reply, startFaultServer, tokenReply } from "../support/fault-server.js";

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

function newClient(extra: Partial<ClientCredentialsClientOptions> = {}) {
  return new ClientCredentialsClient({
    tokenEndpoint: server.tokenEndpoint,
    clientId: "fault-client",
    clientSecret: "fault-secret",
    clock: new ManualClock(),
    ...extra,
  });
}

const oauthError = (status: number, error: string, headers?: Record<string, string>) => ({
  status,
  json: { error, error_description: `${error} happened` },
  headers,
});

describe("retries", () => {
  it("N × 503 then success: retried with full-jitter back-off, then the token", async () => {
    const clock = new ManualClock();
    const events: ClientEvent[] = [];
    server.script(
      { status: 503, body: "busy" },
      { status: 503, body: "busy" },
      { status: 503, body: "busy" },
      tokenReply({ access_token: "after-503s" }),
    );
    const token = await newClient({ clock, onEvent: (e) => events.push(e) }).getToken();
    expect(token.accessToken).toBe("after-503s");
    expect(server.requests).toHaveLength(4);
    // Full jitter: each wait is in [0, min(maxDelay, 200 ms · 2^n)].
    expect(clock.sleeps).toHaveLength(3);
    clock.sleeps.forEach((ms, n) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(200 * 2 ** n);
    });
    const retries = events.filter((e) => e.type === "retry");
    expect(retries.map((e) => e.type === "retry" && e.status)).toEqual([503, 503, 503]);
  });

  it("more 503s than retries: TokenRequestError with status and transient", async () => {
    server.script({ status: 503, body: "busy" });
    const error = await newClient({ retry: { retries: 2 } })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.code).toBe("ERR_TOKEN_REQUEST");
    expect(error.status).toBe(503);
    expect(error.transient).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it("a 503 with an OAuth body is an OAuthError once the retries are spent", async () => {
    server.script(oauthError(503, "temporarily_unavailable"));
    const error = await newClient({ retry: { retries: 1 } })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.error).toBe("temporarily_unavailable");
    expect(error.status).toBe(503);
    expect(server.requests).toHaveLength(2);
  });

  it("429 with Retry-After in seconds waits exactly that long", async () => {
    const clock = new ManualClock();
    server.script(
      { status: 429, body: "", headers: { "retry-after": "3" } },
      tokenReply({ access_token: "after-429" }),
    );
    const token = await newClient({ clock }).getToken();
    expect(token.accessToken).toBe("after-429");
    expect(clock.sleeps).toEqual([3000]);
  });

  it("429 with Retry-After as an HTTP date", async () => {
    const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
    server.script(
      { status: 429, body: "", headers: { "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" } },
      tokenReply({ access_token: "after-date" }),
    );
    expect((await newClient({ clock }).getToken()).accessToken).toBe("after-date");
    expect(clock.sleeps).toEqual([5000]);
  });

  it.each([
    ["the obsolete RFC 850 form", "Thursday, 01-Jan-26 00:00:05 GMT"],
    ["the obsolete asctime form", "Thu Jan  1 00:00:05 2026"],
  ])("429 with Retry-After as an HTTP date in %s (RFC 9110 §5.6.7)", async (_, value) => {
    const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
    server.script(
      { status: 429, body: "", headers: { "retry-after": value } },
      tokenReply({ access_token: "after-obsolete-date" }),
    );
    expect((await newClient({ clock }).getToken()).accessToken).toBe("after-obsolete-date");
    expect(clock.sleeps).toEqual([5000]);
  });

  it.each(["-5", "1.5", "10, 20", "2026-01-01T00:00:05Z", "Thu, 01 Jan 2026 00:00:05 UTC", "soon"])(
    "Retry-After %j is neither delay-seconds nor an HTTP-date: ignored, never a wait of 0",
    async (value) => {
      const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
      server.script({ status: 429, body: "", headers: { "retry-after": value } });
      const error = await newClient({ clock, retry: { retries: 0 } })
        .getToken()
        .catch((e) => e);
      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error.status).toBe(429);
      expect(error.retryAfterMs).toBeUndefined();
    },
  );

  it("Retry-After is honoured on the real clock too", async () => {
    server.script(
      { status: 429, body: "", headers: { "retry-after": "1" } },
      tokenReply({ access_token: "real-wait" }),
    );
    const token = await newClient({ clock: undefined }).getToken();
    expect(token.accessToken).toBe("real-wait");
    const [first, second] = server.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);
  });

  it("a Retry-After beyond maxDelayMs is not waited for: the error says how long", async () => {
    const clock = new ManualClock();
    server.script({ status: 429, body: "", headers: { "retry-after": "120" } });
    const error = await newClient({ clock })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(120_000);
    expect(clock.sleeps).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ["TokenRequestError", { status: 429, body: "", headers: { "retry-after": "60" } }],
    ["OAuthError", oauthError(429, "slow_down", { "retry-after": "60" })],
  ] as const)("a remembered Retry-After reports the wait that remains (%s)", async (name, reply) => {
    const clock = new ManualClock();
    server.script(reply);
    const client = newClient({ clock });
    const first = await client.getToken().catch((e) => e);
    expect([first.name, first.status, first.retryAfterMs]).toEqual([name, 429, 60_000]);
    // One second later the key still answers the same error, without a request, and says 59 s.
    clock.advance(1_000);
    const second = await client.getToken().catch((e) => e);
    expect(second).toBeInstanceOf(first.constructor);
    expect([second.name, second.code, second.status, second.message]).toEqual([
      first.name,
      first.code,
      first.status,
      first.message,
    ]);
    expect(second.retryAfterMs).toBe(59_000);
    // client.fetch reports it the same way, before any request to the API.
    clock.advance(58_500);
    await expect(client.fetch(`${server.url}/api`)).rejects.toMatchObject({ retryAfterMs: 500 });
    expect(server.requests).toHaveLength(1);
    expect(first.retryAfterMs).toBe(60_000);
    // The wait is over: the next call asks the server again.
    clock.advance(500);
    server.script(tokenReply({ access_token: "after-the-wait" }));
    expect((await client.getToken()).accessToken).toBe("after-the-wait");
    expect(server.requests).toHaveLength(2);
  });

  it("maxElapsedMs bounds the total time spent retrying", async () => {
    const clock = new ManualClock();
    server.script({ status: 503, body: "", headers: { "retry-after": "4" } });
    await expect(
      newClient({ clock, retry: { retries: 10, maxElapsedMs: 10_000 } }).getToken(),
    ).rejects.toBeInstanceOf(TokenRequestError);
    expect(clock.sleeps).toEqual([4000, 4000]);
    expect(server.requests).toHaveLength(3);
  });

  it("retry: false makes one attempt", async () => {
    server.script({ status: 502, body: "" });
    await expect(newClient({ retry: false }).getToken()).rejects.toBeInstanceOf(TokenRequestError);
    expect(server.requests).toHaveLength(1);
  });

  it("invalid_client is an OAuthError after exactly one request", async () => {
    server.script(oauthError(401, "invalid_client"));
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.error).toBe("invalid_client");
    expect(error.errorDescription).toBe("invalid_client happened");
    expect(error.status).toBe(401);
    expect(server.requests).toHaveLength(1);
  });

  it.each(["invalid_scope", "unauthorized_client", "invalid_grant"])("%s is not retried", async (code) => {
    server.script(oauthError(400, code));
    await expect(newClient().getToken()).rejects.toMatchObject({ error: code, status: 400 });
    expect(server.requests).toHaveLength(1);
  });

  it("provider-specific fields of an error body are kept", async () => {
    server.script({ status: 400, json: { error: "invalid_scope", error_codes: [70011], trace_id: "abc" } });
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error.body).toMatchObject({ error_codes: [70011], trace_id: "abc" });
  });
});

describe("malformed and odd responses", () => {
  it("a socket that never answers: TokenRequestError within the timeout", async () => {
    server.script({ hang: true });
    const started = Date.now();
    const error = await newClient({ timeoutMs: 300, retry: false })
      .getToken()
      .catch((e) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.transient).toBe(true);
    expect(error.message).toMatch(/timed out after 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
  });

  it("a hang is retried like any transient failure", async () => {
    server.script({ hang: true }, tokenReply({ access_token: "after-hang" }));
    const token = await newClient({ timeoutMs: 200 }).getToken();
    expect(token.accessToken).toBe("after-hang");
    expect(server.requests).toHaveLength(2);
  });

  it("an HTML page with 200 is a TokenRequestError, not retried", async () => {
    server.script({ status: 200, body: "<html><body>Sign in</body></html>" });
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.message).toMatch(/HTML/);
    expect(error.transient).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it("an HTML 502 from a proxy is retried, then a TokenRequestError", async () => {
    server.script({ status: 502, body: "<html>Bad Gateway</html>" });
    const error = await newClient({ retry: { retries: 1 } })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.status).toBe(502);
    expect(server.requests).toHaveLength(2);
  });

  it.each([
    [
      "invalid JSON",
      { status: 200, body: '{"access_token": "abc"', headers: { "content-type": "application/json" } },
    ],
    ["a JSON array", { status: 200, json: [1, 2] }],
    ["no access_token", { status: 200, json: { token_type: "Bearer", expires_in: 60 } }],
    ["a numeric access_token", { status: 200, json: { access_token: 42, token_type: "Bearer" } }],
    [
      "a negative expires_in",
      { status: 200, json: { access_token: "x", token_type: "Bearer", expires_in: -5 } },
    ],
    [
      "a non-numeric expires_in",
      { status: 200, json: { access_token: "x", token_type: "Bearer", expires_in: "soon" } },
    ],
    [
      "a scope that is not a string",
      { status: 200, json: { access_token: "x", token_type: "Bearer", scope: ["a"] } },
    ],
    ["a null access_token", { status: 200, json: { access_token: null, token_type: "Bearer" } }],
    ...[
      ["an expires_in that overflows to Infinity", '{"access_token":"x","expires_in":1e400}'],
      ["a zero expires_in", '{"access_token":"x","expires_in":0}'],
      ["an expires_in in exponent form", '{"access_token":"x","expires_in":"1e13"}'],
      ["a negative expires_in string", '{"access_token":"x","expires_in":"-60"}'],
      ["a boolean expires_in", '{"access_token":"x","expires_in":true}'],
    ].map(
      ([name, body]) =>
        [name, { status: 200, body, headers: { "content-type": "application/json" } }] as [string, Reply],
    ),
  ])("%s is a TokenRequestError", async (_name, reply) => {
    server.script(reply);
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.code).toBe("ERR_TOKEN_REQUEST");
    expect(error.transient).toBe(false);
  });

  it("a 4xx without an OAuth body is a TokenRequestError with its status", async () => {
    server.script({ status: 404, body: "not found" });
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.status).toBe(404);
    expect(error.transient).toBe(false);
  });

  it("expires_in as a numeric string is accepted", async () => {
    const clock = new ManualClock();
    server.script(tokenReply({ expires_in: "120" }));
    const token = await newClient({ clock }).getToken();
    expect(token.expiresAt).toBe(clock.now() + 120_000);
  });

  it("no expires_in and a JWT: the JWT's exp", async () => {
    const clock = new ManualClock();
    const exp = Math.floor(clock.now() / 1000) + 900;
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(exp)
      .sign(new Uint8Array(32));
    server.script({ status: 200, json: { access_token: jwt, token_type: "bearer" } });
    const token = await newClient({ clock }).getToken();
    expect(token.expiresAt).toBe(exp * 1000);
    expect(token.tokenType).toBe("Bearer");
  });

  it("no expires_in and an opaque token: defaultTokenLifetimeSeconds", async () => {
    const clock = new ManualClock();
    server.script({ status: 200, json: { access_token: "opaque", token_type: "Bearer" } });
    expect((await newClient({ clock }).getToken()).expiresAt).toBe(clock.now() + 300_000);
    const custom = newClient({ clock, defaultTokenLifetimeSeconds: 45 });
    expect((await custom.getToken()).expiresAt).toBe(clock.now() + 45_000);
  });

  it("a JWT that has already expired is refused, never returned", async () => {
    const clock = new ManualClock();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(Math.floor(clock.now() / 1000) - 10)
      .sign(new Uint8Array(32));
    server.script({ status: 200, json: { access_token: jwt, token_type: "Bearer" } });
    await expect(newClient({ clock }).getToken()).rejects.toBeInstanceOf(TokenRequestError);
  });

  it("the response's scope wins; without one, the requested scopes are reported", async () => {
    server.script(tokenReply({ scope: "read:data" }));
    expect((await newClient().getToken({ scope: ["read:data", "write:data"] })).scope).toEqual(["read:data"]);
    server.script(tokenReply());
    expect((await newClient().getToken({ scope: "b a" })).scope).toEqual(["a", "b"]);
  });

  it("a refresh_token in the response is ignored", async () => {
    server.script(tokenReply({ refresh_token: "rt-should-not-be-kept" }));
    const token = await newClient().getToken();
    expect(JSON.stringify(token)).not.toContain("rt-should-not-be-kept");
    expect(Object.values(token)).not.toContain("rt-should-not-be-kept");
  });
});

describe("JSON null members are absent", () => {
  it.each([
    ["scope", { scope: null }],
    ["token_type", { token_type: null }],
    [
      "every optional member",
      { scope: null, token_type: null, expires_in: null, refresh_token: null, id_token: null },
    ],
  ])("%s: null is read as absent", async (_name, members) => {
    const clock = new ManualClock();
    server.script(tokenReply({ access_token: "with-nulls", ...members }));
    const token = await newClient({ clock }).getToken({ scope: ["read:data"] });
    expect(token.accessToken).toBe("with-nulls");
    expect(token.tokenType).toBe("Bearer");
    // Absent scope: the requested scopes. Absent expires_in: defaultTokenLifetimeSeconds (opaque token).
    expect(token.scope).toEqual(["read:data"]);
    if ("expires_in" in members) expect(token.expiresAt).toBe(clock.now() + 300_000);
    else expect(token.expiresAt).toBe(clock.now() + 3_600_000);
  });
});

describe("an OAuth error body is an OAuthError whatever the status", () => {
  it("200 with an error body: OAuthError with its fields, not retried", async () => {
    server.script({
      status: 200,
      json: {
        error: "invalid_client",
        error_description: "Client authentication failed",
        error_uri: "https://errors.example/invalid_client",
        trace_id: "t-1",
      },
    });
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.code).toBe("ERR_OAUTH");
    expect(error.error).toBe("invalid_client");
    expect(error.errorDescription).toBe("Client authentication failed");
    expect(error.errorUri).toBe("https://errors.example/invalid_client");
    expect(error.status).toBe(200);
    expect(error.body.trace_id).toBe("t-1");
    expect(error.transient).toBe(false);
    expect(error.message).not.toContain("fault-secret");
    expect(server.requests).toHaveLength(1);
  });

  it("an error member wins over an access_token in the same 200 body", async () => {
    server.script({
      status: 200,
      json: { error: "access_denied", error_description: null, access_token: "not-a-grant" },
    });
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.error).toBe("access_denied");
    expect(error.errorDescription).toBeUndefined();
  });

  it("a 200 error body is a failed key like any OAuth error: no request storm", async () => {
    server.script({ status: 200, json: { error: "invalid_target" } });
    const client = newClient();
    for (let i = 0; i < 5; i++) await expect(client.getToken()).rejects.toBeInstanceOf(OAuthError);
    expect(server.requests).toHaveLength(1);
  });
});

describe("implausible lifetimes are capped at one year", () => {
  const YEAR_MS = 366 * 24 * 3600 * 1000;

  it.each([
    ["1e13 seconds", 1e13],
    ["the largest JSON number", Number.MAX_VALUE],
    ["a digit string of 1e13", "10000000000000"],
    ["two years", 2 * 366 * 24 * 3600],
  ])("expires_in %s: expiresAt is now + 1 year, and printing never throws", async (_name, expiresIn) => {
    const clock = new ManualClock();
    server.script(tokenReply({ access_token: "long-lived", expires_in: expiresIn }));
    const client = newClient({ clock });
    const token = await client.getToken();
    expect(token.expiresAt).toBe(clock.now() + YEAR_MS);
    expect(new Date(token.expiresAt).toISOString()).toMatch(/^\d{4}-/);
    expect(String(token)).toContain(new Date(clock.now() + YEAR_MS).toISOString());
    expect(inspect(token)).not.toContain("long-lived");
    expect(JSON.parse(JSON.stringify(token)).expiresAt).toBe(clock.now() + YEAR_MS);
    expect(() => [String(client), inspect(client), JSON.stringify(client)]).not.toThrow();
    // The cache serves it: no second request.
    expect((await client.getToken()).accessToken).toBe("long-lived");
    expect(server.requests).toHaveLength(1);
  });

  it("a JWT whose exp is far in the future: capped the same way", async () => {
    const clock = new ManualClock();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(1e13)
      .sign(new Uint8Array(32));
    server.script({ status: 200, json: { access_token: jwt, token_type: "Bearer" } });
    const token = await newClient({ clock }).getToken();
    expect(token.expiresAt).toBe(clock.now() + YEAR_MS);
    expect(() => String(token)).not.toThrow();
  });

  it("a token whose expiry is not a date still prints", () => {
    const expiresAt = 8.64e15 + 1;
    const token = new AccessToken({
      accessToken: "odd",
      tokenType: "Bearer",
      expiresAt,
      refreshAt: expiresAt,
      scope: [],
      audience: undefined,
    });
    expect(String(token)).toContain(String(expiresAt));
    expect(inspect(token)).not.toContain("odd");
    expect(() => JSON.stringify(token)).not.toThrow();
  });

  it("a store's token that expires beyond any date (or in more than a year) is refused, not served", async () => {
    server.script(tokenReply({ access_token: "from-the-server" }));
    const expiresAt = 8.64e15 + 1;
    const events: ClientEvent[] = [];
    const store = {
      get: () => ({
        accessToken: "odd",
        tokenType: "Bearer",
        expiresAt,
        refreshAt: expiresAt,
        scope: [],
        audience: undefined,
      }),
      set: () => {},
      delete: () => {},
    };
    const token = await newClient({ store, onEvent: (e) => events.push(e) }).getToken();
    expect(token.accessToken).toBe("from-the-server");
    expect(events).toContainEqual({ type: "stored_token_refused", reason: "lifetime longer than one year" });
  });
});

describe("abort and close", () => {
  it("an aborted caller rejects with the signal's reason; the shared request goes on for others", async () => {
    server.script({ ...tokenReply({ access_token: "slow-token" }), delayMs: 200 });
    const client = newClient();
    const controller = new AbortController();
    const aborted = client.getToken({ signal: controller.signal });
    const patient = client.getToken();
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect((await patient).accessToken).toBe("slow-token");
    expect(server.requests).toHaveLength(1);
  });

  it("when every waiter abandons a request, it is cancelled: the server sees its socket close within 1 s", async () => {
    server.script({ hang: true });
    const events: ClientEvent[] = [];
    const client = newClient({ timeoutMs: 30_000, retry: false, onEvent: (e) => events.push(e) });
    const first = new AbortController();
    const second = new AbortController();
    const waiters = [
      client.getToken({ signal: first.signal }).catch((e) => e),
      client.getToken({ signal: second.signal }).catch((e) => e),
    ];
    await expect.poll(() => server.requests.length).toBe(1);
    first.abort(new Error("first gave up"));
    // One waiter is left: the request goes on.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.requests[0]?.closedAt).toBeUndefined();
    second.abort(new Error("second gave up"));
    const lastAbort = Date.now();
    const [a, b] = await Promise.all(waiters);
    expect(a.message).toBe("first gave up");
    expect(b.message).toBe("second gave up");
    await expect.poll(() => server.requests[0]?.closedAt, { timeout: 1_000, interval: 10 }).toBeDefined();
    expect((server.requests[0]?.closedAt as number) - lastAbort).toBeLessThan(1_000);
    expect(events.find((e) => e.type === "token_failed")).toMatchObject({
      error: { code: "ERR_TOKEN_REQUEST", message: expect.stringMatching(/every caller abandoned it/) },
    });
    // Nothing was cached or kept as a failure: the next caller starts a new request.
    server.script(tokenReply({ access_token: "after-abandon" }));
    expect((await client.getToken()).accessToken).toBe("after-abandon");
    expect(server.requests).toHaveLength(2);
  });

  it("a background refresh is never cancelled when a joining caller abandons it", async () => {
    const clock = new ManualClock();
    server.script(tokenReply({ access_token: "old", expires_in: 600 }), {
      ...tokenReply({ access_token: "refreshed", expires_in: 600 }),
      delayMs: 300,
    });
    const client = newClient({ clock, retry: false });
    expect((await client.getToken()).accessToken).toBe("old");
    clock.advance(590_000);
    // Inside the refresh window: the valid token, and a background refresh starts.
    expect((await client.getToken()).accessToken).toBe("old");
    await expect.poll(() => server.requests.length).toBe(2);
    // A caller that joins the refresh (forceRefresh) and gives up does not cancel it.
    const controller = new AbortController();
    const joined = client.getToken({ forceRefresh: true, signal: controller.signal }).catch((e) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error("joined and gave up"));
    expect((await joined).message).toBe("joined and gave up");
    await expect.poll(() => server.requests[1]?.answeredAt, { timeout: 2_000 }).toBeDefined();
    expect(server.requests[1]?.closedAt).toBeUndefined();
    await expect.poll(async () => (await client.getToken()).accessToken).toBe("refreshed");
    expect(server.requests).toHaveLength(2);
  });

  it("an already-aborted signal rejects at once", async () => {
    const error = await newClient()
      .getToken({ signal: AbortSignal.abort() })
      .catch((e) => e);
    expect(error.name).toBe("AbortError");
    expect(server.requests).toHaveLength(0);
  });

  it("close() aborts a request in flight and refuses later calls", async () => {
    server.script({ hang: true });
    const client = newClient({ timeoutMs: 10_000 });
    const pending = client.getToken();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.close();
    await expect(pending).rejects.toBeInstanceOf(ClientClosedError);
    await expect(client.getToken()).rejects.toMatchObject({ code: "ERR_CLIENT_CLOSED" });
  });

  it("a failed background refresh keeps serving the valid token; after expiry callers get the error", async () => {
    const clock = new ManualClock();
    const events: ClientEvent[] = [];
    server.script(tokenReply({ access_token: "first", expires_in: 600 }), oauthError(401, "invalid_client"));
    const client = newClient({ clock, onEvent: (e) => events.push(e) });
    expect((await client.getToken()).accessToken).toBe("first");
    clock.advance(590_000);
    expect((await client.getToken()).accessToken).toBe("first");
    await expect.poll(() => events.some((e) => e.type === "refresh_failed")).toBe(true);
    // Right after a failure the next calls do not hammer the server.
    expect((await client.getToken()).accessToken).toBe("first");
    expect((await client.getToken()).accessToken).toBe("first");
    expect(server.requests).toHaveLength(2);
    // A little later, one more background try.
    clock.advance(3_000);
    expect((await client.getToken()).accessToken).toBe("first");
    await expect.poll(() => events.filter((e) => e.type === "refresh_failed").length).toBe(2);
    expect(server.requests).toHaveLength(3);
    clock.advance(7_000);
    await expect(client.getToken()).rejects.toBeInstanceOf(OAuthError);
  });
});

describe("tokens and token types that cannot go into an Authorization header", () => {
  it.each([
    ["CR LF and a header", "a b\r\nX-Injected: 1"],
    ["a space", "abc def"],
    ["non-ASCII", "é€"],
    ["NUL", "abc\u0000def"],
  ])("an access_token with %s is a TokenRequestError that does not echo it", async (_name, token) => {
    server.script({ status: 200, json: { access_token: token, token_type: "Bearer", expires_in: 300 } });
    const events: ClientEvent[] = [];
    const error = await newClient({ onEvent: (e) => events.push(e) })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.code).toBe("ERR_TOKEN_REQUEST");
    expect(error.transient).toBe(false);
    expect(error.message).toBe(
      "token endpoint returned a malformed response: access_token is not a valid token",
    );
    expect(inspect(events, { depth: 5 })).not.toContain(JSON.stringify(token).slice(1, -1));
  });

  it("real providers' token shapes pass: JWT, Base64, Entra/Okta, ~ + / = . - _ ! : |", async () => {
    for (const token of [
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_",
      "AbC+/dEf==",
      "ya29.a0Af~x-y_z",
      "00D5g000004Xyz!AQ4AQH.k:x|y",
    ]) {
      server.script(tokenReply({ access_token: token, expires_in: 300 }));
      expect((await newClient().getToken()).accessToken).toBe(token);
    }
  });

  it.each([
    ["bearer", "Bearer"],
    ["BEARER", "Bearer"],
    ["dpop", "DPoP"],
  ])("token_type %s is normalised to %s", async (type, scheme) => {
    server.script(tokenReply({ token_type: type }));
    expect((await newClient().getToken()).tokenType).toBe(scheme);
  });

  it("a missing token_type is taken as Bearer (some providers omit it)", async () => {
    server.script({ status: 200, json: { access_token: "no-type", expires_in: 300 } });
    expect((await newClient().getToken()).tokenType).toBe("Bearer");
  });

  it.each([
    [
      "mac",
      "token endpoint returned a malformed response: unsupported token_type mac (Bearer or DPoP expected)",
    ],
    [
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
      "token endpoint returned a malformed response: unsupported token_type (Bearer or DPoP expected)",
    ],
    [
      "Bearer x\r\n",
      "token endpoint returned a malformed response: unsupported token_type (Bearer or DPoP expected)",
    ],
    [
      "constructor",
      "token endpoint returned a malformed response: unsupported token_type constructor (Bearer or DPoP expected)",
    ],
  ])("token_type %j is refused (named only when a short token)", async (type, message) => {
    server.script(tokenReply({ token_type: type }));
    const error = await newClient()
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.transient).toBe(false);
    expect(error.message).toBe(message);
  });
});

describe("a token endpoint that echoes the request", () => {
  const SECRET = "echo-S3cret/+= value";
  const echo = (status: number) => ({
    status,
    echo: (request: { body: string; headers: Record<string, unknown> }) => ({
      error: "invalid_request",
      error_description: `could not parse ${request.body} ${String(request.headers.authorization ?? "")}`,
      error_uri: `https://as.example.com/help?${request.body}`,
      debug: { got: request.body },
    }),
  });

  it.each([
    ["client_secret_post", 400],
    ["client_secret_basic", 400],
    ["client_secret_jwt", 200],
  ] as const)(
    "%s: the client's secret and assertion are redacted from the error",
    async (authMethod, status) => {
      server.script(echo(status) as Reply);
      const events: ClientEvent[] = [];
      const error = await newClient({
        clientSecret: SECRET,
        authMethod,
        retry: false,
        onEvent: (e) => events.push(e),
      })
        .getToken()
        .catch((e) => e);
      expect(error).toBeInstanceOf(OAuthError);
      const request = server.requests.at(-1);
      const assertion = new URLSearchParams(request?.body).get("client_assertion");
      const shown = [
        error.message,
        error.errorDescription,
        error.errorUri,
        JSON.stringify(error.body),
        inspect(error, { depth: 5 }),
        inspect(events, { depth: 5 }),
      ].join("\n");
      expect(shown).toContain("could not parse");
      expect(shown).toContain("[redacted]");
      for (const secret of [
        SECRET,
        encodeURIComponent(SECRET),
        new URLSearchParams({ s: SECRET }).toString().slice(2),
      ]) {
        expect(shown).not.toContain(secret);
      }
      if (authMethod === "client_secret_basic") {
        expect(shown).not.toContain(String(request?.headers.authorization).slice(6));
      }
      if (assertion) expect(shown).not.toContain(assertion);
      else expect(authMethod).not.toBe("client_secret_jwt");
    },
  );
});

describe("discovery", () => {
  it("a discovered token_endpoint with credentials is a DiscoveryError that does not echo it", async () => {
    const issuer = `${server.url}/creds`;
    server.route("/creds/.well-known/openid-configuration", {
      status: 200,
      json: { issuer, token_endpoint: "http://user:disc-pw@127.0.0.1:1/token" },
    });
    const error = await newClient({ issuer, tokenEndpoint: undefined })
      .getToken()
      .catch((e) => e);
    expect(error.code).toBe("ERR_DISCOVERY");
    expect(error.message).toContain("token_endpoint must not contain credentials");
    expect(inspect(error, { depth: 5 })).not.toContain("disc-pw");
  });
});
