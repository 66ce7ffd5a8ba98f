/**
 * The same requests against Express 5, Express 4, Fastify 5, Hono and a plain fetch-API handler, each
 * a real server on 127.0.0.1: status, WWW-Authenticate and body must match RFC 6750 and each other.
 */
import { createServer } from "node:http";
import express5 from "express";
import express4 from "express4";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAnyScope, requireAuth, requireScopes } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import { ClientCredentialsClient, createVerifier, type Verifier } from "../../src/index.js";
import { authenticate, withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
const REALM = 'api "v1"';
type Server = { url: string; close: () => Promise<void> };
type Factory = (verifier: Verifier) => Promise<Server>;

const payload = (auth: { clientId?: string; scopes: readonly string[] } | null | undefined) =>
  auth ? { authenticated: true, client: auth.clientId, scopes: auth.scopes } : { authenticated: false };

function expressFactory(express: typeof express5): Factory {
  return async (verifier) => {
    const app = express();
    const auth = requireAuth(verifier, { realm: REALM });
    app.get("/data", auth, requireScopes("read:data"), (req, res) => {
      res.json(payload(req.auth));
    });
    app.get("/any", auth, requireAnyScope("admin", "read:data"), (req, res) => {
      res.json(payload(req.auth));
    });
    app.get("/optional", requireAuth(verifier, { realm: REALM, optional: true }), (req, res) => {
      res.json(payload(req.auth));
    });
    return listen(createServer(app));
  };
}

const fastifyFactory: Factory = async (verifier) => {
  const app = Fastify();
  await app.register(m2mAuth, { verifier, realm: REALM });
  app.get("/data", { config: { scopes: ["read:data"] } }, async (request) => payload(request.auth));
  app.get("/any", { config: { anyScope: ["admin", "read:data"] } }, async (request) => payload(request.auth));
  app.get("/optional", { onRequest: app.requireAuth({ optional: true }) }, async (request) =>
    payload(request.auth),
  );
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
};

const honoFactory: Factory = async (verifier) => {
  const app = new Hono();
  app.use("/data", honoAuth(verifier, { realm: REALM, requiredScopes: ["read:data"] }));
  app.use("/any", honoAuth(verifier, { realm: REALM, requiredScopes: { anyOf: ["admin", "read:data"] } }));
  app.use("/optional", honoAuth(verifier, { realm: REALM, optional: true }));
  for (const path of ["/data", "/any", "/optional"]) app.get(path, (c) => c.json(payload(c.get("auth"))));
  return serveFetch((request) => app.fetch(request));
};

const webFactory: Factory = async (verifier) => {
  const data = withAuth((_request, auth) => Response.json(payload(auth)), verifier, {
    realm: REALM,
    requiredScopes: ["read:data"],
  });
  const any = withAuth((_request, auth) => Response.json(payload(auth)), verifier, {
    realm: REALM,
    requiredScopes: { anyOf: ["admin", "read:data"] },
  });
  return serveFetch(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/data") return data(request);
    if (path === "/any") return any(request);
    const auth = await authenticate(request, verifier, { realm: REALM, optional: true });
    return auth instanceof Response ? auth : Response.json(payload(auth));
  });
};

const FRAMEWORKS: Array<[string, Factory]> = [
  ["express 5", expressFactory(express5)],
  ["express 4", expressFactory(express4 as unknown as typeof express5)],
  ["fastify 5", fastifyFactory],
  ["hono", honoFactory],
  ["fetch API (withAuth)", webFactory],
];

let ks: KeyServer;
let as: RunningProvider;
const servers = new Map<string, Server>();
const unavailable = new Map<string, Server>();
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ks = await startKeyServer();
  as = await startProvider();
  const now = Math.floor(Date.now() / 1000);
  tokens.read = await ks.sign({ client_id: "svc", scope: "read:data" });
  tokens.write = await ks.sign({ client_id: "svc", scope: "write:data" });
  tokens.expired = await ks.sign({ client_id: "svc", scope: "read:data", exp: now - 60, iat: now - 120 });
  tokens.otherAudience = await ks.sign({
    client_id: "svc",
    scope: "read:data",
    aud: "https://other.example.com",
  });
  const client = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
  });
  tokens.real = (await client.getToken({ audience: API, scope: "read:data" })).accessToken;
  const verifier = createVerifier({ issuer: [ks.issuer, as.issuer], audience: API });
  // Keys unreachable: a JWKS URL where nothing listens.
  const dead = await listen(createServer());
  await dead.close();
  const deadVerifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: `${dead.url}/jwks` });
  for (const [name, factory] of FRAMEWORKS) {
    servers.set(name, await factory(verifier));
    unavailable.set(name, await factory(deadVerifier));
  }
});

afterAll(async () => {
  for (const server of [...servers.values(), ...unavailable.values()]) await server.close();
  await ks.close();
  await as.close();
});

interface Seen {
  status: number;
  challenge: string | null;
  retryAfter: string | null;
  body: unknown;
  raw: string;
}

async function call(server: Server, path: string, authorization?: string): Promise<Seen> {
  const res = await fetch(`${server.url}${path}`, { headers: authorization ? { authorization } : {} });
  const raw = await res.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {}
  return {
    status: res.status,
    challenge: res.headers.get("www-authenticate"),
    retryAfter: res.headers.get("retry-after"),
    body,
    raw,
  };
}

const R = 'realm="api \\"v1\\""';
const CASES: Array<{
  name: string;
  path: string;
  auth?: () => string;
  status: number;
  challenge: string | null;
  body: unknown;
}> = [
  {
    name: "no Authorization header",
    path: "/data",
    status: 401,
    challenge: `Bearer ${R}`,
    body: { error: "unauthorized", error_description: "authentication is required" },
  },
  {
    name: "empty Bearer",
    path: "/data",
    auth: () => "Bearer ",
    status: 400,
    challenge: `Bearer ${R}, error="invalid_request", error_description="the Authorization header has no valid bearer token"`,
    body: {
      error: "invalid_request",
      error_description: "the Authorization header has no valid bearer token",
    },
  },
  {
    name: "Basic scheme",
    path: "/data",
    auth: () => "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    status: 401,
    challenge: `Bearer ${R}`,
    body: { error: "unauthorized", error_description: "authentication is required" },
  },
  {
    name: "two tokens",
    path: "/data",
    auth: () => `Bearer ${tokens.read} ${tokens.read}`,
    status: 400,
    challenge: `Bearer ${R}, error="invalid_request", error_description="the Authorization header has no valid bearer token"`,
    body: {
      error: "invalid_request",
      error_description: "the Authorization header has no valid bearer token",
    },
  },
  {
    name: "two spaces after Bearer (1*SP, RFC 6750 §2.1)",
    path: "/data",
    auth: () => `Bearer  ${tokens.read}`,
    status: 200,
    challenge: null,
    body: { authenticated: true, client: "svc", scopes: ["read:data"] },
  },
  {
    name: "lowercase bearer",
    path: "/data",
    auth: () => `bearer ${tokens.read}`,
    status: 200,
    challenge: null,
    body: { authenticated: true, client: "svc", scopes: ["read:data"] },
  },
  {
    name: "DPoP scheme",
    path: "/data",
    auth: () => `DPoP ${tokens.read}`,
    status: 401,
    challenge: `Bearer ${R}, error="invalid_token", error_description="this API is not configured for DPoP-bound access tokens (dpop option)"`,
    body: {
      error: "invalid_token",
      error_description: "this API is not configured for DPoP-bound access tokens (dpop option)",
    },
  },
  {
    name: "garbage token",
    path: "/data",
    auth: () => "Bearer abc.def.ghi",
    status: 401,
    challenge: `Bearer ${R}, error="invalid_token", error_description="token header is not JSON"`,
    body: { error: "invalid_token", error_description: "token header is not JSON" },
  },
  {
    name: "expired token",
    path: "/data",
    auth: () => `Bearer ${tokens.expired}`,
    status: 401,
    challenge: `Bearer ${R}, error="invalid_token", error_description="token has expired"`,
    body: { error: "invalid_token", error_description: "token has expired" },
  },
  {
    name: "wrong audience",
    path: "/data",
    auth: () => `Bearer ${tokens.otherAudience}`,
    status: 401,
    challenge: `Bearer ${R}, error="invalid_token", error_description="token audience is not accepted"`,
    body: { error: "invalid_token", error_description: "token audience is not accepted" },
  },
  {
    name: "missing scope",
    path: "/data",
    auth: () => `Bearer ${tokens.write}`,
    status: 403,
    challenge: `Bearer ${R}, error="insufficient_scope", error_description="token lacks the scopes: read:data", scope="read:data"`,
    body: { error: "insufficient_scope", error_description: "token lacks the scopes: read:data" },
  },
  {
    name: "any-of scopes, one present",
    path: "/any",
    auth: () => `Bearer ${tokens.read}`,
    status: 200,
    challenge: null,
    body: { authenticated: true, client: "svc", scopes: ["read:data"] },
  },
  {
    name: "any-of scopes, none present",
    path: "/any",
    auth: () => `Bearer ${tokens.write}`,
    status: 403,
    challenge: `Bearer ${R}, error="insufficient_scope", error_description="token has none of the scopes: admin read:data", scope="admin read:data"`,
    body: { error: "insufficient_scope", error_description: "token has none of the scopes: admin read:data" },
  },
  {
    name: "optional auth without credentials",
    path: "/optional",
    status: 200,
    challenge: null,
    body: { authenticated: false },
  },
  {
    name: "optional auth with a valid token",
    path: "/optional",
    auth: () => `Bearer ${tokens.write}`,
    status: 200,
    challenge: null,
    body: { authenticated: true, client: "svc", scopes: ["write:data"] },
  },
  {
    name: "optional auth with a bad token",
    path: "/optional",
    auth: () => `Bearer ${tokens.expired}`,
    status: 401,
    challenge: `Bearer ${R}, error="invalid_token", error_description="token has expired"`,
    body: { error: "invalid_token", error_description: "token has expired" },
  },
  {
    name: "a real oidc-provider token",
    path: "/data",
    auth: () => `Bearer ${tokens.real}`,
    status: 200,
    challenge: null,
    body: { authenticated: true, client: "basic-client", scopes: ["read:data"] },
  },
];

describe.each(FRAMEWORKS.map(([name]) => name))("%s", (framework) => {
  it.each(CASES)("$name → $status", async (c) => {
    const server = servers.get(framework) as Server;
    const authorization = c.auth?.();
    const seen = await call(server, c.path, authorization);
    expect(seen.status).toBe(c.status);
    expect(seen.challenge).toBe(c.challenge);
    expect(seen.body).toEqual(c.body);
    for (const token of Object.values(tokens)) {
      expect(seen.raw).not.toContain(token);
      expect(seen.raw).not.toContain(token.split(".")[1]);
    }
  });

  it("token in the header and in the query together → 400 invalid_request", async () => {
    const server = servers.get(framework) as Server;
    const res = await fetch(`${server.url}/data?access_token=${tokens.read}`, {
      headers: { authorization: `Bearer ${tokens.read}` },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer ${R}, error="invalid_request", error_description="the access token was sent by more than one method"`,
    );
    expect(await res.text()).not.toContain(tokens.read);
  });

  it("a query token alone is not accepted unless enabled", async () => {
    const res = await fetch(`${(servers.get(framework) as Server).url}/data?access_token=${tokens.read}`);
    expect(res.status).toBe(401);
  });

  it("keys unreachable → 503 with Retry-After", async () => {
    const seen = await call(unavailable.get(framework) as Server, "/data", `Bearer ${tokens.read}`);
    expect(seen.status).toBe(503);
    expect(seen.retryAfter).toBe("30");
    expect(seen.challenge).toBeNull();
    expect(seen.body).toEqual({
      error: "temporarily_unavailable",
      error_description: "access tokens cannot be checked right now",
    });
  });
});
