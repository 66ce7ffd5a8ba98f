/**
 * `m2m-kit/otel` on a client: a real token request against oidc-provider, read back through the
 * OpenTelemetry SDK's in-memory metric reader and span exporter.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  type StoredToken,
  type TokenStore,
} from "../../src/index.js";
import { instrument } from "../../src/otel/index.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { countOf, startTelemetry, type Telemetry } from "./support.js";

const API = "https://api.example.com";
let op: RunningProvider;
let faults: FaultServer;

beforeAll(async () => {
  op = await startProvider();
  faults = await startFaultServer();
});
afterAll(async () => {
  await op?.close();
  await faults?.close();
});

function newClient(extra: Partial<ClientCredentialsClientOptions> = {}) {
  return new ClientCredentialsClient({
    issuer: op.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    ...extra,
  });
}

async function withTelemetry(run: (t: Telemetry) => Promise<void>) {
  const t = startTelemetry();
  try {
    await run(t);
  } finally {
    await t.close();
  }
}

describe("client metrics and spans", () => {
  it("a real token request: spans as children of the active span, traceparent sent, metrics with documented names", () =>
    withTelemetry(async (t) => {
      const client = newClient();
      instrument(client, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      const job = t.tracerProvider.getTracer("app");
      const token = await job.startActiveSpan("nightly-job", async (span) => {
        const first = await client.getToken({ audience: API, scope: "read:data" });
        await client.getToken({ audience: API, scope: "read:data" });
        await client.getToken({ audience: API, scope: "read:data" });
        span.end();
        return first;
      });

      const spans = t.spans();
      const byName = (name: string) => spans.filter((s) => s.name === name);
      const [root] = byName("nightly-job");
      const [discovery] = byName("m2m.discovery");
      const [request] = byName("m2m.token_request");
      expect(root && discovery && request).toBeTruthy();
      expect(discovery?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
      expect(request?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
      expect(request?.attributes).toEqual({ "m2m.token.background": false, "m2m.token.attempts": 1 });
      const [post] = byName("POST");
      const [get] = byName("GET");
      const port = Number(new URL(op.issuer).port);
      expect(post?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
      expect(post?.kind).toBe(2); // SpanKind.CLIENT
      expect(post?.attributes).toEqual({
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.full": op.tokenEndpoint,
        "http.response.status_code": 200,
      });
      expect(get?.parentSpanContext?.spanId).toBe(discovery?.spanContext().spanId);
      expect(get?.attributes["url.full"]).toBe(`${op.issuer}/.well-known/openid-configuration`);
      expect(spans.every((s) => s.spanContext().traceId === root?.spanContext().traceId)).toBe(true);

      // The authorization server saw the trace context of each HTTP client span.
      expect(op.requests.at(-1)?.traceparent).toBe(
        `00-${post?.spanContext().traceId}-${post?.spanContext().spanId}-01`,
      );

      const duration = await t.points("m2m.client.token.request.duration");
      expect(duration.map((p) => p.attributes)).toEqual([{ "m2m.token.background": false }]);
      expect(countOf(duration)).toBe(1);
      const http = await t.points("http.client.request.duration");
      expect(countOf(http, { "http.request.method": "POST", "http.response.status_code": 200 })).toBe(1);
      expect(countOf(http, { "http.request.method": "GET", "server.port": port })).toBe(1);
      expect(countOf(await t.points("m2m.client.cache.misses"))).toBe(1);
      expect(countOf(await t.points("m2m.client.cache.hits"))).toBe(2);
      expect(countOf(await t.points("m2m.discovery.duration"))).toBe(1);

      const everything = await t.dump();
      for (const hidden of [ODD_SECRET, token.accessToken, "basic-client", API]) {
        expect(everything).not.toContain(hidden);
      }
    }));

  it("client id and audience only when asked for", () =>
    withTelemetry(async (t) => {
      const client = newClient();
      instrument(client, {
        meterProvider: t.meterProvider,
        tracerProvider: t.tracerProvider,
        includeAudience: true,
        includeClientId: true,
      });
      await client.getToken({ audience: API });
      await client.getToken({ audience: API });
      await client.getToken({ audience: "https://billing.example.com" });
      const who = { "m2m.client_id": "basic-client", "m2m.audience": API };
      expect(countOf(await t.points("m2m.client.token.request.duration"), who)).toBe(1);
      expect(countOf(await t.points("m2m.client.cache.hits"), who)).toBe(1);
      expect(countOf(await t.points("m2m.client.cache.misses"), who)).toBe(1);
      expect(
        countOf(await t.points("m2m.client.cache.misses"), { "m2m.audience": "https://billing.example.com" }),
      ).toBe(1);
      const request = t.spans().find((s) => s.name === "m2m.token_request");
      expect(request?.attributes).toMatchObject(who);
    }));

  it("an OAuth error: error.type, the OAuth error and the status on the metric and the span", () =>
    withTelemetry(async (t) => {
      const client = newClient({ clientSecret: "wrong-secret" });
      instrument(client, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      await expect(client.getToken({ audience: API })).rejects.toMatchObject({ error: "invalid_client" });
      const failed = {
        "m2m.token.background": false,
        "error.type": "ERR_OAUTH",
        "m2m.oauth.error": "invalid_client",
        "http.response.status_code": 401,
      };
      expect((await t.points("m2m.client.token.request.duration")).map((p) => p.attributes)).toEqual([
        failed,
      ]);
      const request = t.spans().find((s) => s.name === "m2m.token_request");
      expect(request?.status.code).toBe(2); // SpanStatusCode.ERROR
      expect(request?.attributes).toMatchObject(failed);
      const post = t.spans().find((s) => s.name === "POST");
      expect(post?.attributes).toMatchObject({ "http.response.status_code": 401, "error.type": "401" });
      expect(await t.dump()).not.toContain("wrong-secret");
    }));

  it("retries: one event per retry on the token request span, and the retry counter by status", () =>
    withTelemetry(async (t) => {
      faults.script(
        { status: 503, body: "busy" },
        { status: 429, body: "slow down" },
        tokenReply({ access_token: "after-retries" }),
      );
      const client = new ClientCredentialsClient({
        tokenEndpoint: faults.tokenEndpoint,
        clientId: "fault-client",
        clientSecret: "fault-secret",
        clock: new ManualClock(),
      });
      instrument(client, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      await client.getToken();
      const request = t.spans().find((s) => s.name === "m2m.token_request");
      expect(request?.events.map((e) => [e.name, e.attributes?.["http.response.status_code"]])).toEqual([
        ["retry", 503],
        ["retry", 429],
      ]);
      expect(request?.attributes["m2m.token.attempts"]).toBe(3);
      const posts = t.spans().filter((s) => s.name === "POST");
      expect(posts.map((s) => s.attributes["http.response.status_code"])).toEqual([503, 429, 200]);
      expect(posts.every((s) => s.parentSpanContext?.spanId === request?.spanContext().spanId)).toBe(true);
      const retries = await t.points("m2m.client.token.retries");
      expect(countOf(retries, { "http.response.status_code": 503 })).toBe(1);
      expect(countOf(retries, { "http.response.status_code": 429 })).toBe(1);
      // Each attempt carried its own HTTP span's trace context.
      const sent = faults.requests.map((r) => r.headers.traceparent);
      expect(sent).toEqual(posts.map((s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`));
    }));

  it("a traceparent the caller set is kept; traceHttp: false leaves HTTP to the transport", () =>
    withTelemetry(async (t) => {
      faults.requests.length = 0;
      faults.script(tokenReply({ access_token: "plain" }));
      const client = new ClientCredentialsClient({
        tokenEndpoint: faults.tokenEndpoint,
        clientId: "fault-client",
        clientSecret: "fault-secret",
      });
      instrument(client, {
        meterProvider: t.meterProvider,
        tracerProvider: t.tracerProvider,
        traceHttp: false,
      });
      await t.tracerProvider.getTracer("app").startActiveSpan("job", async (span) => {
        await client.getToken();
        span.end();
      });
      expect(t.spans().map((s) => s.name)).toEqual(["m2m.token_request", "job"]);
      expect(faults.requests[0]?.headers.traceparent).toBeUndefined();
      expect(await t.points("http.client.request.duration")).toEqual([]);

      const api = await t.tracerProvider.getTracer("app").startActiveSpan("call", async (span) => {
        const mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        const traced = newClient();
        instrument(traced, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
        faults.route("/api", { status: 200, body: "ok" });
        const res = await traced.fetch(`${faults.url}/api`, {
          audience: API,
          headers: { traceparent: mine },
        });
        span.end();
        return { status: res.status, sent: faults.requests.at(-1)?.headers.traceparent, mine };
      });
      expect(api.status).toBe(200);
      expect(api.sent).toBe(api.mine);
    }));

  it("fleet stores: lease waits by outcome, and requests made without the lease", () =>
    withTelemetry(async (t) => {
      // A shared store whose lease another process holds: its token shows up while this one waits.
      const clock = new ManualClock();
      const entries = new Map<string, StoredToken>();
      let polls = 0;
      const store: TokenStore = {
        get: (key) => {
          if (++polls === 3) {
            entries.set(key, {
              accessToken: "from-the-holder",
              tokenType: "Bearer",
              expiresAt: clock.now() + 600_000,
              refreshAt: clock.now() + 540_000,
              scope: [],
              audience: undefined,
            });
          }
          return entries.get(key);
        },
        set: (key, token) => {
          entries.set(key, token);
        },
        delete: (key) => {
          entries.delete(key);
        },
        lease: { ttlMs: 5_000, waitTimeoutMs: 2_000, acquire: () => undefined },
      };
      const waiting = new ClientCredentialsClient({
        tokenEndpoint: faults.tokenEndpoint,
        clientId: "fleet-client",
        clientSecret: "fleet-secret",
        clock,
        store,
      });
      instrument(waiting, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      expect((await waiting.getToken()).accessToken).toBe("from-the-holder");
      const waits = await t.points("m2m.client.lease.wait.duration");
      expect(waits.map((p) => p.attributes)).toEqual([{ "m2m.lease.outcome": "shared" }]);

      const down = new ClientCredentialsClient({
        tokenEndpoint: faults.tokenEndpoint,
        clientId: "fleet-client",
        clientSecret: "fleet-secret",
        store: {
          get: () => undefined,
          set: () => {},
          delete: () => {},
          lease: {
            ttlMs: 5_000,
            waitTimeoutMs: 2_000,
            acquire: () => {
              throw new Error("store down");
            },
          },
        },
      });
      instrument(down, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      faults.script(tokenReply({ access_token: "fetched-alone" }));
      expect((await down.getToken()).accessToken).toBe("fetched-alone");
      expect(countOf(await t.points("m2m.client.lease.unavailable"))).toBe(1);
    }));

  it("two clients on one meter: their cache hits add up in one time series", () =>
    withTelemetry(async (t) => {
      const providers = { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider };
      const first = newClient();
      const second = newClient();
      instrument(first, providers);
      instrument(second, providers);
      for (const c of [first, first, first, second, second]) await c.getToken({ audience: API });
      const hits = await t.points("m2m.client.cache.hits");
      expect(hits).toHaveLength(1);
      expect(countOf(hits)).toBe(3);
      expect(countOf(await t.points("m2m.client.cache.misses"))).toBe(2);
    }));

  it("detached: nothing more is recorded", () =>
    withTelemetry(async (t) => {
      const client = newClient();
      const stop = instrument(client, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
      await client.getToken({ audience: API });
      stop();
      await client.getToken({ audience: API });
      await client.getToken({ audience: API, forceRefresh: true });
      expect(countOf(await t.points("m2m.client.token.request.duration"))).toBe(1);
      expect(await t.points("m2m.client.cache.hits")).toEqual([]);
    }));

  it("bad targets and options are TypeErrors that name them", () => {
    expect(() => instrument({} as never)).toThrow(
      /ClientCredentialsClient, a verifier .* or verifyAccessToken/,
    );
    expect(() => instrument(newClient(), { includeAudience: "yes" as never })).toThrow(
      /includeAudience must be a boolean/,
    );
  });
});
