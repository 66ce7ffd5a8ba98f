/**
 * `client.exchangeToken` (RFC 8693) end to end: against the dev server (parameters by their §2.1
 * names, one request per subject, the delegation chain the verifier reports as `auth.actor`, and
 * `allowedActors` refusing another actor at every adapter), and against a small real token endpoint
 * for what the dev server does not show (a server that does not cap the lifetime at the subject's
 * `exp`, `token_type: N_A`).
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { decodeJwt } from "jose";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  type AccessToken,
  ClientAssertionError,
  ClientCredentialsClient,
  type ClientEvent,
  createVerifier,
  type FetchLike,
  OAuthError,
  type VerifierOptions,
} from "../../src/index.js";
import { createRedisTokenStore } from "../../src/redis/index.js";
import { withAuth } from "../../src/web/index.js";
import { mintAssertion } from "../support/assertions.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { startRedis } from "../support/redis.js";

const ORDERS = "https://orders.example.com";
const GATEWAY = "https://gateway.example.com";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
let dev: DevServer;
let endpoint: FaultServer;
const sent: URLSearchParams[] = [];
const recording: FetchLike = (input, init) => {
  if (init?.method === "POST") sent.push(new URLSearchParams(String(init.body)));
  return fetch(input, init);
};

const app = (clientId: string, grants: Record<string, string[]>, extra: Record<string, unknown> = {}) => ({
  clientId,
  clientSecret: `${clientId}-secret`,
  grants,
  ...extra,
});

beforeAll(async () => {
  dev = await startDevServer({
    keysPath: false,
    config: {
      apis: [
        { identifier: ORDERS, scopes: ["read:orders", "write:orders"] },
        { identifier: GATEWAY, scopes: ["call:gateway"] },
      ],
      apps: [
        app("web-frontend", { [GATEWAY]: ["call:gateway"] }),
        app("batch-agent", { [GATEWAY]: ["call:gateway"] }),
        app(
          "gateway",
          { [ORDERS]: ["read:orders"] },
          { grantTypes: ["client_credentials", "token-exchange"] },
        ),
        app("reporter", { [ORDERS]: ["read:orders"] }),
      ],
    },
  });
  endpoint = await startFaultServer();
});
afterAll(async () => {
  await Promise.all([dev?.close(), endpoint?.close()]);
});

function client(clientId: string, extra: Record<string, unknown> = {}) {
  return new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId,
    clientSecret: `${clientId}-secret`,
    fetch: recording,
    ...extra,
  });
}

/** An access token the dev server issued to `clientId` for the gateway API: a subject or an actor. */
async function tokenOf(clientId: string): Promise<string> {
  const c = client(clientId, { fetch: undefined });
  const token = await c.getToken({ audience: GATEWAY, forceRefresh: true });
  await c.close();
  return token.accessToken;
}

describe("exchangeToken against the dev server", () => {
  it("sends RFC 8693 §2.1 parameters; one request per subject; the token is about the subject, acted for by the client", async () => {
    const subjectToken = await tokenOf("web-frontend");
    const gateway = client("gateway");
    sent.length = 0;
    const calls = Array.from({ length: 5 }, () =>
      gateway.exchangeToken({ subjectToken, audience: ORDERS, scope: ["read:orders"] }),
    );
    const tokens = await Promise.all(calls);
    await gateway.exchangeToken({ subjectToken, audience: ORDERS, scope: "read:orders" });
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(sent).toHaveLength(1);
    expect(Object.fromEntries(sent[0] ?? [])).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      audience: ORDERS,
      scope: "read:orders",
    });
    const token = tokens[0];
    expect(token?.issuedTokenType).toBe(ACCESS_TOKEN);
    expect(decodeJwt(token?.accessToken as string)).toMatchObject({
      sub: "web-frontend",
      client_id: "gateway",
      act: { sub: "gateway" },
      aud: ORDERS,
    });
    // Another subject, or the same one with an actor: another token.
    const other = await tokenOf("batch-agent");
    await gateway.exchangeToken({ subjectToken: other, audience: ORDERS, scope: ["read:orders"] });
    await gateway.exchangeToken({
      subjectToken,
      actorToken: other,
      actorTokenType: ACCESS_TOKEN,
      requestedTokenType: ACCESS_TOKEN,
      audience: ORDERS,
      scope: ["read:orders"],
    });
    expect(sent).toHaveLength(3);
    expect(Object.fromEntries(sent[2] ?? [])).toMatchObject({
      actor_token: other,
      actor_token_type: ACCESS_TOKEN,
      requested_token_type: ACCESS_TOKEN,
    });
    await gateway.close();
  });

  it("the verifier reports the delegation chain as auth.actor", async () => {
    const subjectToken = await tokenOf("web-frontend");
    const actorToken = await tokenOf("batch-agent");
    const gateway = client("gateway");
    const verifier = createVerifier({ issuer: dev.issuer, audience: ORDERS });
    const direct = await gateway.exchangeToken({ subjectToken, audience: ORDERS });
    expect((await verifier.verify(direct.accessToken)).actor).toEqual({ sub: "gateway" });
    const delegated = await gateway.exchangeToken({
      subjectToken,
      actorToken,
      actorTokenType: ACCESS_TOKEN,
      audience: ORDERS,
    });
    const auth = await verifier.verify(delegated.accessToken);
    expect(auth.subject).toBe("web-frontend");
    expect(auth.actor).toEqual({ sub: "batch-agent" });
    await gateway.close();
  });

  it("what to check: an unusable subject, a client without the grant, an unknown audience", async () => {
    const gateway = client("gateway");
    const forged = await mintAssertion(new TextEncoder().encode("x".repeat(32)), {
      iss: dev.issuer,
      sub: "someone",
      aud: GATEWAY,
      alg: "HS256",
    });
    const refused = await gateway
      .exchangeToken({ subjectToken: forged, audience: ORDERS })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OAuthError);
    expect((refused as OAuthError).hint).toBe(
      "check the subject_token and actor_token: not expired, of the token types sent, and issued by an issuer the server trusts for token exchange by this client",
    );
    expect((refused as Error).message).not.toContain(forged);
    const reporter = client("reporter");
    const subjectToken = await tokenOf("web-frontend");
    const unauthorized = await reporter
      .exchangeToken({ subjectToken, audience: ORDERS })
      .catch((e: unknown) => e);
    expect(unauthorized).toMatchObject({
      error: "unauthorized_client",
      hint: "check that this client is allowed the grant_type urn:ietf:params:oauth:grant-type:token-exchange (its grant types, in the server's console)",
    });
    const target = await gateway
      .exchangeToken({ subjectToken, audience: "https://unknown.example.com" })
      .catch((e: unknown) => e);
    expect(target).toMatchObject({
      error: "invalid_target",
      hint: "check the audience https://unknown.example.com: the server does not know it, or this client may not get tokens for it",
    });
    for (const c of [gateway, reporter]) await c.close();
  });

  it("options are checked before any request: actorToken needs actorTokenType, names are checked", async () => {
    const gateway = client("gateway");
    sent.length = 0;
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = gateway.exchangeToken({ subjectToken: "a.b.c", actorToken: "d.e.f", audience: ORDERS });
    }).not.toThrow();
    await expect(promise).rejects.toThrow(
      new TypeError("actorTokenType is required with actorToken (RFC 8693 §2.1)"),
    );
    await expect(gateway.exchangeToken({ subjectTokn: "a.b.c", audience: ORDERS } as never)).rejects.toThrow(
      "subjectTokn is not an option of exchangeToken(); did you mean subjectToken?",
    );
    await expect(gateway.exchangeToken({ subjectToken: "", audience: ORDERS })).rejects.toThrow(
      "subjectToken must be a non-empty string",
    );
    await expect(
      gateway.exchangeToken({ subjectToken: "a.b.c", subjectTokenType: "access token", audience: ORDERS }),
    ).rejects.toThrow(/subjectTokenType must be a token type URI/);
    expect(sent).toHaveLength(0);
    await gateway.close();
  });
});

describe("exchangeToken with the client's DPoP and fleet store", () => {
  it("DPoP: the exchanged token is bound to the client's key", async () => {
    const subjectToken = await tokenOf("web-frontend");
    const gateway = client("gateway", { dpop: true });
    const token = await gateway.exchangeToken({ subjectToken, audience: ORDERS });
    expect(token.tokenType).toBe("DPoP");
    expect(decodeJwt(token.accessToken).cnf).toEqual({ jkt: await gateway.dpopThumbprint() });
    await gateway.close();
  });

  it("two processes on one Redis store exchange one subject once", async () => {
    const redisServer = await startRedis();
    const redis = createClient({ url: redisServer.url });
    redis.on("error", () => {});
    await redis.connect();
    const stores = [1, 2].map(() =>
      createRedisTokenStore({
        redis,
        keyPrefix: "exchange:",
        encryptionKey: "exchange-test-key-0123456789abcdef",
      }),
    );
    try {
      const subjectToken = await tokenOf("web-frontend");
      const [a, b] = stores.map((store) => client("gateway", { store }));
      sent.length = 0;
      const [first, second] = await Promise.all(
        [a, b].map((c) => c?.exchangeToken({ subjectToken, audience: ORDERS }) as Promise<AccessToken>),
      );
      expect(second?.accessToken).toBe(first?.accessToken);
      expect(sent).toHaveLength(1);
      for (const c of [a, b]) await c?.close();
    } finally {
      for (const store of stores) await store.close();
      await redis.quit().catch(() => {});
      await redisServer.stop();
    }
  });
});

type Server = { url: string; close: () => Promise<void> };

describe("allowedActors refuses another actor at every adapter", () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  it("Express, Fastify, Hono and the web adapter: 403 for batch-agent's delegation, 200 for the gateway's", async () => {
    const options: VerifierOptions = {
      issuer: dev.issuer,
      audience: ORDERS,
      allowedActors: [{ sub: "gateway" }],
    };
    const body = (auth: { actor?: unknown } | undefined | null) => ({ actor: auth?.actor });
    const expressApp = express();
    expressApp.get("/orders", requireAuth(options), (req, res) => {
      res.json(body(req.auth));
    });
    servers.push(await listen(createServer(expressApp)));
    const fastify = Fastify();
    await fastify.register(m2mAuth, { ...options, global: true });
    fastify.get("/orders", async (request) => body(request.auth));
    await fastify.listen({ port: 0, host: "127.0.0.1" });
    const { port } = fastify.server.address() as { port: number };
    servers.push({ url: `http://127.0.0.1:${port}`, close: () => fastify.close() });
    const hono = new Hono();
    hono.use("/orders", honoAuth(options));
    hono.get("/orders", (c) => c.json(body(c.get("auth"))));
    servers.push(await serveFetch((request) => hono.fetch(request)));
    servers.push(await serveFetch(withAuth((_request, auth) => Response.json(body(auth)), options)));

    const subjectToken = await tokenOf("web-frontend");
    const gateway = client("gateway");
    const byGateway = await gateway.exchangeToken({ subjectToken, audience: ORDERS });
    const byAgent = await gateway.exchangeToken({
      subjectToken,
      actorToken: await tokenOf("batch-agent"),
      actorTokenType: ACCESS_TOKEN,
      audience: ORDERS,
    });
    for (const server of servers) {
      const call = (token: string) =>
        fetch(`${server.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      const allowed = await call(byGateway.accessToken);
      expect(allowed.status, server.url).toBe(200);
      expect(await allowed.json()).toEqual({ actor: { sub: "gateway" } });
      const refused = await call(byAgent.accessToken);
      expect(refused.status, server.url).toBe(403);
      await refused.body?.cancel();
    }
    await gateway.close();
  });
});

describe("exchangeToken against a server that does not cap the lifetime", () => {
  const key = new TextEncoder().encode("subject-token-signing-key-0123456789");

  it("a subject expiring in 3 s: its exchanged token is not served after the subject's exp", async () => {
    endpoint.requests.length = 0;
    endpoint.script({
      status: 200,
      json: {
        access_token: "exchanged-1",
        token_type: "Bearer",
        expires_in: 3600,
        issued_token_type: ACCESS_TOKEN,
      },
    });
    const clock = new ManualClock();
    const events: ClientEvent[] = [];
    const c = new ClientCredentialsClient({
      tokenEndpoint: endpoint.tokenEndpoint,
      clientId: "gateway",
      clientSecret: "gateway-secret",
      clock,
      onEvent: (event) => events.push(event),
    });
    const subjectToken = await mintAssertion(key, {
      iss: "https://idp.example",
      sub: "alice",
      aud: GATEWAY,
      alg: "HS256",
      now: clock.now(),
      expiresInSeconds: 3,
    });
    const first = await c.exchangeToken({ subjectToken, audience: ORDERS });
    expect(first.expiresAt).toBe(Math.floor(clock.now() / 1000) * 1000 + 3000);
    expect((await c.exchangeToken({ subjectToken, audience: ORDERS })).accessToken).toBe("exchanged-1");
    expect(endpoint.requests).toHaveLength(1);
    clock.advance(4_000);
    const error = await c.exchangeToken({ subjectToken, audience: ORDERS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    expect(error).toMatchObject({ parameter: "subject_token", problem: "expired" });
    expect((error as Error).message).toMatch(
      /^subject_token has expired \(exp .+\); no token request was sent$/,
    );
    expect(endpoint.requests).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain(subjectToken);
    await c.close();
  });

  it("an actor token expiring in 3 s: the delegated token is not served after the actor's exp", async () => {
    endpoint.requests.length = 0;
    endpoint.script({
      status: 200,
      json: { access_token: "delegated-1", token_type: "Bearer", expires_in: 3600 },
    });
    const clock = new ManualClock();
    const c = new ClientCredentialsClient({
      tokenEndpoint: endpoint.tokenEndpoint,
      clientId: "gateway",
      clientSecret: "gateway-secret",
      clock,
    });
    const mint = (sub: string, expiresInSeconds: number) =>
      mintAssertion(key, {
        iss: "https://idp.example",
        sub,
        aud: GATEWAY,
        alg: "HS256",
        now: clock.now(),
        expiresInSeconds,
      });
    const exchange = {
      subjectToken: await mint("alice", 3600),
      actorToken: await mint("batch-agent", 3),
      actorTokenType: "urn:ietf:params:oauth:token-type:jwt",
      audience: ORDERS,
    };
    const first = await c.exchangeToken(exchange);
    expect(first.expiresAt).toBe(Math.floor(clock.now() / 1000) * 1000 + 3000);
    expect((await c.exchangeToken(exchange)).accessToken).toBe("delegated-1");
    expect(endpoint.requests).toHaveLength(1);
    clock.advance(4_000);
    // What a miss refuses, a hit does not hand out: the delegation ended with the actor's token.
    const error = await c.exchangeToken(exchange).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    expect(error).toMatchObject({ parameter: "actor_token", problem: "expired" });
    expect(endpoint.requests).toHaveLength(1);
    await c.close();
  });

  it("an opaque subject: only expires_in counts; token_type N_A is an answer", async () => {
    endpoint.requests.length = 0;
    endpoint.script({
      status: 200,
      json: {
        access_token: "an-id-token",
        token_type: "N_A",
        expires_in: 600,
        issued_token_type: "urn:ietf:params:oauth:token-type:id_token",
      },
    });
    const clock = new ManualClock();
    const c = new ClientCredentialsClient({
      tokenEndpoint: endpoint.tokenEndpoint,
      clientId: "gateway",
      clientSecret: "gateway-secret",
      clock,
    });
    const request = {
      subjectToken: "opaque-subject-token-value",
      requestedTokenType: "urn:ietf:params:oauth:token-type:id_token",
      audience: ORDERS,
    };
    const token = await c.exchangeToken(request);
    expect(token).toMatchObject({
      tokenType: "N_A",
      issuedTokenType: "urn:ietf:params:oauth:token-type:id_token",
    });
    expect(token.expiresAt).toBe(clock.now() + 600_000);
    clock.advance(60_000);
    await c.exchangeToken(request);
    expect(endpoint.requests).toHaveLength(1);
    clock.advance(600_000);
    await c.exchangeToken(request);
    expect(endpoint.requests).toHaveLength(2);
    // N_A is an answer of token exchange only: client credentials still refuse it.
    const error = await c.getToken({ audience: ORDERS }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "token endpoint returned a malformed response: unsupported token_type N_A (Bearer or DPoP expected)",
    );
    await c.close();
  });
});
