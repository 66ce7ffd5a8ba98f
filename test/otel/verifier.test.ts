/**
 * `m2m-kit/otel` on a verifier: real verifications through a real Express app, tokens from a real
 * oidc-provider, read back through the OpenTelemetry SDK's in-memory reader and exporter.
 */
import { createServer } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { ClientCredentialsClient, createVerifier, verifyAccessToken } from "../../src/index.js";
import { instrument } from "../../src/otel/index.js";
import { ManualClock } from "../support/clock.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { countOf, startTelemetry } from "./support.js";

const API = "https://api.example.com";
const BILLING = "https://billing.example.com";
const OPAQUE = "https://opaque.example.com";
let op: RunningProvider;
let client: ClientCredentialsClient;

beforeAll(async () => {
  op = await startProvider({
    apis: [
      { identifier: API, scopes: ["read:data"] },
      { identifier: BILLING, scopes: ["read:invoices"] },
      { identifier: OPAQUE, scopes: ["read:data"], format: "opaque" },
    ],
  });
  client = new ClientCredentialsClient({
    issuer: op.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
  });
});
afterAll(() => op?.close());

describe("verifier metrics and spans", () => {
  it("verifications through Express: duration by outcome, JWKS fetch and discovery spans, no token anywhere", async () => {
    const t = startTelemetry();
    const verifier = createVerifier({ issuer: op.issuer, audience: API });
    instrument(verifier, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
    const app = express();
    app.get("/data", requireAuth(verifier), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    const server = await listen(createServer(app));
    try {
      const good = (await client.getToken({ audience: API })).accessToken;
      const otherApi = (await client.getToken({ audience: BILLING })).accessToken;
      const call = (token: string) =>
        fetch(`${server.url}/data`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      const statuses = [];
      for (const token of [good, good, good, good, otherApi, "not.a.jwt"]) statuses.push(await call(token));
      expect(statuses).toEqual([200, 200, 200, 200, 401, 401]);

      // A token is admitted to the verified-token cache once seen twice with the keys in hand: the
      // fourth call is answered from the cache, counted and not timed.
      const points = await t.points("m2m.verifier.verification.duration");
      expect(countOf(points)).toBe(5);
      expect(points.find((p) => Object.keys(p.attributes).length === 0 && countOf([p]) === 3)).toBeTruthy();
      expect(countOf(await t.points("m2m.verifier.cache.hits"))).toBe(1);
      expect(countOf(points, { "error.type": "ERR_JWT_AUDIENCE" })).toBe(1);
      expect(countOf(points, { "error.type": "ERR_JWT_MALFORMED" })).toBe(1);
      expect(countOf(await t.points("m2m.verifier.jwks.fetch.duration"))).toBe(1);
      expect(countOf(await t.points("m2m.discovery.duration"))).toBe(1);
      const http = await t.points("http.client.request.duration");
      expect(countOf(http, { "http.request.method": "GET", "http.response.status_code": 200 })).toBe(2);

      const spans = t.spans();
      const [jwks] = spans.filter((s) => s.name === "m2m.jwks_fetch");
      const get = spans.find((s) => s.name === "GET" && s.attributes["url.full"] === op.jwksUri);
      expect(jwks && get).toBeTruthy();
      expect(get?.parentSpanContext?.spanId).toBe(jwks?.spanContext().spanId);
      expect(spans.filter((s) => s.name === "m2m.discovery")).toHaveLength(1);

      const everything = await t.dump();
      for (const hidden of [good, otherApi, good.split(".")[2] as string, "basic-client"]) {
        expect(everything).not.toContain(hidden);
      }
    } finally {
      await server.close();
      await t.close();
    }
  });

  it("a JWKS fetch is a child of the active span, and the client id is recorded only when asked for", async () => {
    const t = startTelemetry();
    const verifier = createVerifier({ issuer: op.issuer, audience: API, jwksUri: op.jwksUri });
    instrument(verifier, {
      meterProvider: t.meterProvider,
      tracerProvider: t.tracerProvider,
      includeClientId: true,
    });
    const token = (await client.getToken({ audience: API })).accessToken;
    await t.tracerProvider.getTracer("app").startActiveSpan("request", async (span) => {
      await verifier.verify(token);
      span.end();
    });
    const request = t.spans().find((s) => s.name === "request");
    const jwks = t.spans().find((s) => s.name === "m2m.jwks_fetch");
    expect(jwks?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(
      countOf(await t.points("m2m.verifier.verification.duration"), { "m2m.client_id": "basic-client" }),
    ).toBe(1);
    await t.close();
  });

  it("introspection of an opaque token: one span and one duration per request to the endpoint", async () => {
    const t = startTelemetry();
    const verifier = createVerifier({
      issuer: op.issuer,
      audience: OPAQUE,
      clock: new ManualClock(),
      introspection: { clientId: "post-client", clientSecret: ODD_SECRET, authMethod: "client_secret_post" },
    });
    instrument(verifier, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
    const opaque = (await client.getToken({ audience: OPAQUE })).accessToken;
    await verifier.verify(opaque);
    await verifier.verify(opaque);
    expect(countOf(await t.points("m2m.verifier.introspection.duration"))).toBe(1);
    expect(countOf(await t.points("m2m.verifier.verification.duration"))).toBe(2);
    const span = t.spans().find((s) => s.name === "m2m.introspection");
    const post = t.spans().find((s) => s.name === "POST");
    expect(post?.parentSpanContext?.spanId).toBe(span?.spanContext().spanId);
    expect(await t.dump()).not.toContain(opaque);
    await t.close();
  });

  it("instrument(verifyAccessToken): the verifiers it shares, made before and after, until detached", async () => {
    const t = startTelemetry();
    const token = (await client.getToken({ audience: API })).accessToken;
    const billing = (await client.getToken({ audience: BILLING })).accessToken;
    const before = { issuer: op.issuer, audience: API };
    await verifyAccessToken(token, before); // a shared verifier made before instrument
    const stop = instrument(verifyAccessToken, {
      meterProvider: t.meterProvider,
      tracerProvider: t.tracerProvider,
    });
    await verifyAccessToken(token, before);
    await verifyAccessToken(token, before); // admitted to the verified-token cache
    await verifyAccessToken(token, before); // cache hit
    await expect(verifyAccessToken(billing, before)).rejects.toMatchObject({ code: "ERR_JWT_AUDIENCE" });
    await verifyAccessToken(billing, { issuer: op.issuer, audience: BILLING }); // made after instrument
    const durations = await t.points("m2m.verifier.verification.duration");
    expect(countOf(durations, {})).toBe(4); // 2 + the refusal + the other verifier
    expect(countOf(durations, { "error.type": "ERR_JWT_AUDIENCE" })).toBe(1);
    expect(countOf(await t.points("m2m.verifier.cache.hits"))).toBe(1);
    // The verifier made after instrument fetched its keys inside an instrumented JWKS fetch.
    expect(t.spans().filter((s) => s.name === "m2m.jwks_fetch")).toHaveLength(1);

    stop();
    await verifyAccessToken(token, before);
    await verifyAccessToken(billing, { issuer: op.issuer, audience: BILLING });
    expect(countOf(await t.points("m2m.verifier.verification.duration"))).toBe(4);
    expect(countOf(await t.points("m2m.verifier.cache.hits"))).toBe(1);
    await t.close();
  });
});
