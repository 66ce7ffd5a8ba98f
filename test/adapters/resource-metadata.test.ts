/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata on Express, Fastify, Hono and the fetch-API adapter,
 * each a real server on 127.0.0.1 with tokens from m2m-kit/testing's issuer: the document served at
 * the well-known URL derived from the resource (path-inserted for an API under a path), every 401
 * and 403 challenge naming it in `resource_metadata`, its URL answering without a token also when
 * the adapter protects one route only or every route, the same URL behind a reverse proxy whatever
 * `Host` the client sends, members that follow the configuration that is enforced, and bad
 * `resourceMetadata` options refused at creation.
 */
import { createServer, request as httpRequest } from "node:http";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  protectedResourceMetadata as expressMetadata,
  requireAuth,
  requireScopes,
} from "../../src/express/index.js";
import { protectedResourceMetadata as fastifyMetadata, m2mAuth } from "../../src/fastify/index.js";
import {
  honoAuth,
  protectedResourceMetadata as honoMetadata,
  requireScopes as honoRequireScopes,
} from "../../src/hono/index.js";
import { RESOURCE_METADATA_OPTION_NAMES } from "../../src/http/resource-metadata.js";
import {
  type AuthConfig,
  authenticateRequest,
  createVerifier,
  type HttpAuthError,
  type Verifier,
} from "../../src/index.js";
import { createTestClient, createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { authenticate, protectedResourceMetadata as webMetadata, withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { expectTypoError, namesOf, rejected, thrown, typosOf } from "../support/option-names.js";
import { startReverseProxy } from "../support/reverse-proxy.js";

const API = "https://api.example.com";
const API_V1 = "https://api.example.com/v1";
const WELL_KNOWN = "/.well-known/oauth-protected-resource";
const METADATA_V1 = `${API}${WELL_KNOWN}/v1`;

let issuer: TestIssuer;
let other: TestIssuer;

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API_V1 });
  other = await createTestIssuer({ audience: API_V1 });
});
afterAll(async () => {
  await issuer.close();
  await other.close();
});

type Server = { url: string; close: () => Promise<void> };
/** `app`: the adapter sees every request; `route`: it protects the API's routes only, beside the standalone handler. */
type Mount = "app" | "route";
/**
 * A server for `config` with the protected routes `<base>/data` (the configuration's scopes) and,
 * where the adapter has route scopes, `<base>/admin` (`admin` besides).
 */
type Factory = (config: AuthConfig, mount: Mount, base: string) => Promise<Server>;

const body = (auth: { clientId?: string | undefined; scopes: readonly string[] } | null | undefined) => ({
  client: auth?.clientId ?? null,
  scopes: auth?.scopes ?? [],
});

const factories: Record<string, Factory> = {
  express: async (config, mount, base) => {
    const app = express();
    if (mount === "app") {
      app.use(requireAuth(config));
      app.get(`${base}/data`, (req, res) => {
        res.json(body(req.auth));
      });
      app.get(`${base}/admin`, requireScopes("admin"), (req, res) => {
        res.json(body(req.auth));
      });
    } else {
      app.use(expressMetadata(config));
      const auth = requireAuth(config);
      app.get(`${base}/data`, auth, (req, res) => {
        res.json(body(req.auth));
      });
      app.get(`${base}/admin`, auth, requireScopes("admin"), (req, res) => {
        res.json(body(req.auth));
      });
    }
    return listen(createServer(app));
  },
  fastify: async (config, mount, base) => {
    const app = Fastify();
    const routes = async (api: FastifyInstance) => {
      api.get("/data", async (request) => body(request.auth));
      api.get("/admin", { config: { scopes: ["admin"] } }, async (request) => body(request.auth));
    };
    if (mount === "app") {
      await app.register(m2mAuth, { ...config, global: true } as never);
      await app.register(routes, { prefix: base });
    } else {
      // The plugin under the API's prefix cannot reach the root: the standalone plugin serves it.
      await app.register(fastifyMetadata(config));
      await app.register(
        async (api) => {
          await api.register(m2mAuth, config as never);
          api.get("/data", { config: { scopes: [] } }, async (request) => body(request.auth));
          api.get("/admin", { config: { scopes: ["admin"] } }, async (request) => body(request.auth));
        },
        { prefix: base },
      );
    }
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (config, mount, base) => {
    const app = new Hono();
    if (mount === "app") {
      app.use(honoAuth(config));
      app.get(`${base}/data`, (c) => c.json(body(c.get("auth"))));
      app.get(`${base}/admin`, honoRequireScopes("admin"), (c) => c.json(body(c.get("auth"))));
    } else {
      app.use(honoMetadata(config));
      const auth = honoAuth(config);
      app.get(`${base}/data`, auth, (c) => c.json(body(c.get("auth"))));
      app.get(`${base}/admin`, auth, honoRequireScopes("admin"), (c) => c.json(body(c.get("auth"))));
    }
    return serveFetch((request) => app.fetch(request));
  },
  web: async (config, mount, base) => {
    const handler = withAuth((_request, auth) => Response.json(body(auth)), config);
    if (mount === "app") return serveFetch(handler);
    const metadata = webMetadata(config);
    return serveFetch(async (request) => {
      const answer = metadata(request);
      if (answer) return answer;
      const { pathname } = new URL(request.url);
      if (pathname !== `${base}/data`) return new Response("not found", { status: 404 });
      const auth = await authenticate(request, config);
      return auth instanceof Response ? auth : Response.json(body(auth));
    });
  },
};

/** Frameworks with route-level scopes (`<base>/admin`). */
const ROUTE_SCOPES = new Set(["express", "fastify", "hono"]);

/** The `resource_metadata` parameter of every challenge in a `WWW-Authenticate` value. */
function metadataParameters(challenge: string | null): string[] {
  return [...(challenge ?? "").matchAll(/resource_metadata="([^"]*)"/g)].map((m) => m[1] as string);
}

async function get(url: string, token?: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  return { response, status: response.status, text, challenge: response.headers.get("www-authenticate") };
}

const v1Config = (): AuthConfig => ({
  issuer: issuer.issuer,
  audience: API_V1,
  requiredScopes: ["read:data"],
  resourceMetadata: {
    scopesSupported: ["admin"],
    resourceName: "Data API",
    resourceDocumentation: "https://docs.example.com/data-api",
  },
});

describe("the document and the challenges on every adapter (an API under a path)", () => {
  for (const [name, factory] of Object.entries(factories)) {
    for (const mount of ["app", "route"] as const) {
      it(`${name}, adapter on ${mount === "app" ? "every route" : "the API's routes, the standalone handler at the app"}`, async () => {
        const server = await factory(v1Config(), mount, "/v1");
        try {
          // The document at the path-inserted URL (RFC 9728 §3.1), and at the bare well-known path.
          for (const path of [`${WELL_KNOWN}/v1`, WELL_KNOWN]) {
            const { response, status, text } = await get(`${server.url}${path}`);
            expect(status, path).toBe(200);
            expect(response.headers.get("content-type")).toMatch(/^application\/json/);
            expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
            expect(response.headers.get("access-control-allow-origin")).toBe("*");
            expect(JSON.parse(text)).toEqual({
              resource: API_V1,
              authorization_servers: [issuer.issuer],
              scopes_supported: ["admin", "read:data"],
              bearer_methods_supported: ["header"],
              resource_name: "Data API",
              resource_documentation: "https://docs.example.com/data-api",
            });
          }
          const head = await get(`${server.url}${WELL_KNOWN}/v1`, undefined, { method: "HEAD" });
          expect(head.status).toBe(200);
          expect(head.text).toBe("");
          expect(head.response.headers.get("cache-control")).toBe("public, max-age=3600");
          const preflight = await get(`${server.url}${WELL_KNOWN}/v1`, undefined, {
            method: "OPTIONS",
            headers: {
              origin: "https://agent.example",
              "access-control-request-method": "GET",
              "access-control-request-headers": "mcp-protocol-version",
            },
          });
          expect(preflight.status).toBe(204);
          expect(preflight.response.headers.get("access-control-allow-origin")).toBe("*");
          expect(preflight.response.headers.get("access-control-allow-methods")).toBe("GET, HEAD, OPTIONS");
          expect(preflight.response.headers.get("access-control-allow-headers")).toBe("*");
          const post = await get(`${server.url}${WELL_KNOWN}/v1`, undefined, { method: "POST" });
          expect(post.status).toBe(405);
          expect(post.response.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
          // Another resource's path is not this API's document.
          expect((await get(`${server.url}${WELL_KNOWN}/v2`)).status).not.toBe(200);

          // 401 without credentials: a bare challenge with the metadata URL (§5.1).
          const anonymous = await get(`${server.url}/v1/data`);
          expect(anonymous.status).toBe(401);
          expect(anonymous.challenge).toBe(`Bearer resource_metadata="${METADATA_V1}"`);
          // The URL it names answers without a token, here too.
          const named = await get(
            `${server.url}${new URL(metadataParameters(anonymous.challenge)[0] as string).pathname}`,
          );
          expect(named.status).toBe(200);
          expect(JSON.parse(named.text).resource).toBe(API_V1);

          // 401 for a bad token, 403 for a missing scope (with its scope), 200 with the scopes.
          const forged = await get(
            `${server.url}/v1/data`,
            await issuer.mint({ scope: "read:data" }, { forged: true }),
          );
          expect(forged.status).toBe(401);
          expect(forged.challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]*", /);
          expect(metadataParameters(forged.challenge)).toEqual([METADATA_V1]);
          const writer = await get(`${server.url}/v1/data`, await issuer.mint({ scope: "write:data" }));
          expect(writer.status).toBe(403);
          expect(writer.challenge).toContain('error="insufficient_scope"');
          expect(writer.challenge).toContain('scope="read:data"');
          expect(metadataParameters(writer.challenge)).toEqual([METADATA_V1]);
          const reader = await get(
            `${server.url}/v1/data`,
            await issuer.mint({ scope: "read:data", client_id: "svc" }),
          );
          expect(reader.status).toBe(200);
          expect(JSON.parse(reader.text)).toEqual({ client: "svc", scopes: ["read:data"] });

          if (ROUTE_SCOPES.has(name)) {
            // A route's own scope refusal carries it too.
            const notAdmin = await get(`${server.url}/v1/admin`, await issuer.mint({ scope: "read:data" }));
            expect(notAdmin.status).toBe(403);
            expect(notAdmin.challenge).toContain('scope="admin"');
            expect(metadataParameters(notAdmin.challenge)).toEqual([METADATA_V1]);
          }
        } finally {
          await server.close();
        }
      });
    }
  }

  it("an API at the root of its origin: one well-known path, and the challenge names it", async () => {
    const config: AuthConfig = { issuer: issuer.issuer, audience: API, resourceMetadata: {} };
    for (const [name, factory] of Object.entries(factories)) {
      const server = await factory(config, "route", "");
      try {
        const document = await get(`${server.url}${WELL_KNOWN}`);
        expect(document.status, name).toBe(200);
        expect(JSON.parse(document.text)).toEqual({
          resource: API,
          authorization_servers: [issuer.issuer],
          bearer_methods_supported: ["header"],
        });
        const anonymous = await get(`${server.url}/data`);
        expect(anonymous.challenge, name).toBe(`Bearer resource_metadata="${API}${WELL_KNOWN}"`);
      } finally {
        await server.close();
      }
    }
  });

  it("a resource whose path a URL percent-encodes: the URL the challenge names answers on every adapter, mounted either way", async () => {
    for (const resource of [`${API}/caf%C3%A9/mcp`, `${API}/orders%20api`]) {
      const config: AuthConfig = { issuer: issuer.issuer, audience: resource, resourceMetadata: {} };
      for (const [name, factory] of Object.entries(factories)) {
        for (const mount of ["app", "route"] as const) {
          const server = await factory(config, mount, "/v1");
          try {
            const anonymous = await get(`${server.url}/v1/data`);
            const [named] = metadataParameters(anonymous.challenge);
            expect(named).toBe(`${API}${WELL_KNOWN}${new URL(resource).pathname}`);
            // Requested as an agent does (percent-encoded), in either case of hex digits.
            for (const path of [
              new URL(named as string).pathname,
              new URL(named as string).pathname.toLowerCase(),
            ]) {
              const document = await get(`${server.url}${path}`);
              expect(document.status, `${name} ${mount} ${path}`).toBe(200);
              expect(JSON.parse(document.text).resource).toBe(resource);
            }
          } finally {
            await server.close();
          }
        }
      }
    }
  });

  it("a resource with a terminating slash: the URL RFC 9728 derives and the one the MCP SDK derives both answer", async () => {
    const resource = `${API}/v1/`;
    const config: AuthConfig = { issuer: issuer.issuer, audience: resource, resourceMetadata: {} };
    for (const [name, factory] of Object.entries(factories)) {
      for (const mount of ["app", "route"] as const) {
        const server = await factory(config, mount, "/v1");
        try {
          const anonymous = await get(`${server.url}/v1/data`);
          expect(metadataParameters(anonymous.challenge)).toEqual([METADATA_V1]);
          // §3.1 removes the terminating slash; getOAuthProtectedResourceMetadataUrl keeps it.
          for (const path of [`${WELL_KNOWN}/v1`, `${WELL_KNOWN}/v1/`]) {
            const document = await get(`${server.url}${path}`);
            expect(document.status, `${name} ${mount} ${path}`).toBe(200);
            expect(JSON.parse(document.text).resource).toBe(resource);
          }
        } finally {
          await server.close();
        }
      }
    }
  });

  it("without resourceMetadata the challenges are as before and no document is served", async () => {
    const config: AuthConfig = { issuer: issuer.issuer, audience: API_V1 };
    for (const [name, factory] of Object.entries(factories)) {
      // The adapter on every route, and no standalone handler.
      const server = await factory(config, "app", "/v1");
      try {
        expect((await get(`${server.url}/v1/data`)).challenge, name).toBe("Bearer");
        // 401 where the adapter protects every path, 404 where Fastify has no such route.
        expect([401, 404], name).toContain((await get(`${server.url}${WELL_KNOWN}/v1`)).status);
      } finally {
        await server.close();
      }
    }
  });
});

/** A GET over node:http, so that the `Host` header can be anything. */
function send(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; challenge: string; text: string }>((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          challenge: String(res.headers["www-authenticate"] ?? ""),
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("behind a reverse proxy with publicUrl: the metadata URL comes from the resource, never from Host", () => {
  for (const [name, factory] of Object.entries(factories)) {
    it(name, async () => {
      const config: AuthConfig = {
        issuer: issuer.issuer,
        audience: API_V1,
        publicUrl: "https://api.example.com",
        resourceMetadata: {},
      };
      const server = await factory(config, "route", "/v1");
      const proxy = await startReverseProxy(server.url);
      try {
        for (const host of ["api.example.com", "evil.example.com"]) {
          const anonymous = await send(`${proxy.url}/v1/data`, { host });
          expect(anonymous.status, host).toBe(401);
          expect(anonymous.challenge, host).toBe(`Bearer resource_metadata="${METADATA_V1}"`);
          const document = await send(`${proxy.url}${new URL(METADATA_V1).pathname}`, { host });
          expect(document.status, host).toBe(200);
          expect(JSON.parse(document.text).resource, host).toBe(API_V1);
          const token = await issuer.mint({ client_id: "svc" });
          const ok = await send(`${proxy.url}/v1/data`, { host, authorization: `Bearer ${token}` });
          expect(ok.status, host).toBe(200);
        }
      } finally {
        await proxy.close();
        await server.close();
      }
    });
  }
});

describe("the document follows the configuration that is enforced", () => {
  for (const [name, factory] of Object.entries(factories)) {
    it(`${name}: issuers, scopes, token methods, DPoP and certificate binding change in the document and at the door together`, async () => {
      const document = async (server: Server) =>
        JSON.parse((await get(`${server.url}${WELL_KNOWN}/v1`)).text) as Record<string, unknown>;
      const reader = await issuer.mint({ scope: "read:data" });
      const otherWriter = await other.mint({ scope: "write:data" });
      const dpopWriter = createTestClient(other, { scope: "write:data" }, { dpop: true });

      // One issuer, read:data required, header only, no DPoP.
      const one = await factory(
        { issuer: issuer.issuer, audience: API_V1, requiredScopes: ["read:data"], resourceMetadata: {} },
        "app",
        "/v1",
      );
      try {
        expect(await document(one)).toEqual({
          resource: API_V1,
          authorization_servers: [issuer.issuer],
          scopes_supported: ["read:data"],
          bearer_methods_supported: ["header"],
        });
        expect((await get(`${one.url}/v1/data`, reader)).status).toBe(200);
        expect((await get(`${one.url}/v1/data`, otherWriter)).status).toBe(401);
        expect((await get(`${one.url}/v1/data?access_token=${reader}`)).status).toBe(401);
        expect((await dpopWriter.fetch(`${one.url}/v1/data`)).status).toBe(401);
      } finally {
        await one.close();
      }

      // Two issuers, write:data required, the query accepted, DPoP accepted.
      const two = await factory(
        {
          issuers: [
            { issuer: issuer.issuer, audience: API_V1 },
            { issuer: other.issuer, audience: API_V1 },
          ],
          requiredScopes: ["write:data"],
          allowQueryToken: true,
          dpop: { algorithms: ["ES256", "EdDSA"] },
          publicUrl: "host-header",
          resourceMetadata: {},
        },
        "app",
        "/v1",
      );
      try {
        expect(await document(two)).toEqual({
          resource: API_V1,
          authorization_servers: [issuer.issuer, other.issuer],
          scopes_supported: ["write:data"],
          bearer_methods_supported: ["header", "query"],
          dpop_signing_alg_values_supported: ["ES256", "EdDSA"],
          dpop_bound_access_tokens_required: false,
        });
        expect((await get(`${two.url}/v1/data`, otherWriter)).status).toBe(200);
        expect((await get(`${two.url}/v1/data`, reader)).status).toBe(403);
        expect((await get(`${two.url}/v1/data?access_token=${otherWriter}`)).status).toBe(200);
        expect((await dpopWriter.fetch(`${two.url}/v1/data`)).status).toBe(200);
        // Both challenges, Bearer and DPoP, name the metadata.
        const anonymous = await get(`${two.url}/v1/data`);
        expect(anonymous.challenge).toBe(
          `Bearer resource_metadata="${METADATA_V1}", DPoP resource_metadata="${METADATA_V1}", algs="ES256 EdDSA"`,
        );
      } finally {
        await two.close();
      }

      // DPoP required and certificate-bound tokens required: bearer tokens and unbound DPoP tokens are refused.
      const three = await factory(
        {
          issuer: other.issuer,
          audience: API_V1,
          allowQueryToken: true,
          dpop: { required: true },
          publicUrl: "host-header",
          requireCertificateBoundTokens: true,
          resourceMetadata: { authorizationServers: [other.issuer] },
        },
        "app",
        "/v1",
      );
      try {
        const described = await document(three);
        expect(described).toMatchObject({
          authorization_servers: [other.issuer],
          bearer_methods_supported: ["header"],
          dpop_bound_access_tokens_required: true,
          tls_client_certificate_bound_access_tokens: true,
        });
        expect(described.scopes_supported).toBeUndefined();
        const bearer = await get(`${three.url}/v1/data`, otherWriter);
        expect(bearer.status).toBe(401);
        expect(metadataParameters(bearer.challenge)).toEqual([METADATA_V1]);
        expect((await get(`${three.url}/v1/data?access_token=${otherWriter}`)).status).toBe(401);
        const unbound = await dpopWriter.fetch(`${three.url}/v1/data`);
        expect(unbound.status).toBe(401);
        expect(unbound.headers.get("www-authenticate")).toContain(`resource_metadata="${METADATA_V1}"`);
        await unbound.body?.cancel();
      } finally {
        await three.close();
      }
    });
  }
});

describe("Fastify: the plugin at the root and the standalone plugin together", () => {
  it("serve one document; another resource's document at the same path is refused", async () => {
    const config = { issuer: issuer.issuer, audience: API_V1, resourceMetadata: {} };
    const app = Fastify();
    await app.register(m2mAuth, { ...config, global: true });
    await app.register(fastifyMetadata(config));
    app.get("/v1/data", async (request) => body(request.auth));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = app.server.address() as { port: number };
      const document = await get(`http://127.0.0.1:${port}${WELL_KNOWN}/v1`);
      expect(document.status).toBe(200);
      expect((await get(`http://127.0.0.1:${port}/v1/data`)).status).toBe(401);
    } finally {
      await app.close();
    }
    const conflict = Fastify();
    await conflict.register(fastifyMetadata(config));
    const error = await rejected(
      conflict.register(fastifyMetadata({ ...config, resourceMetadata: { resourceName: "Other" } })).ready(),
    );
    await conflict.close();
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      `resourceMetadata: ${WELL_KNOWN}/v1 serves the metadata of another resource already`,
    );
  });
});

describe("authenticateRequest (the core) with resourceMetadata", () => {
  it("names the metadata in its challenges", async () => {
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API_V1 });
    const options = { requiredScopes: ["read:data"], resourceMetadata: {} };
    const error = (await rejected(
      authenticateRequest(verifier, { authorization: undefined }, options),
    )) as HttpAuthError;
    expect(error.status).toBe(401);
    expect(error.headers["www-authenticate"]).toBe(`Bearer resource_metadata="${METADATA_V1}"`);
    const token = await issuer.mint({ scope: "write:data" });
    const refused = (await rejected(
      authenticateRequest(verifier, { authorization: `Bearer ${token}` }, options),
    )) as HttpAuthError;
    expect(refused.status).toBe(403);
    expect(refused.headers["www-authenticate"]).toContain(
      `scope="read:data", resource_metadata="${METADATA_V1}"`,
    );
  });
});

describe("bad resourceMetadata options are a TypeError at creation that names them", () => {
  let verifier: Verifier;
  beforeAll(() => {
    verifier = createVerifier({ issuer: issuer.issuer, audience: API_V1 });
  });

  const fastifyRejects = async (options: object) => {
    const app = Fastify();
    try {
      return await rejected(app.register(m2mAuth, options as never).ready());
    } finally {
      await app.close();
    }
  };

  /** Every way to give a configuration, each returning what it threw or rejected with. */
  const makers: Array<[string, (config: object) => Promise<unknown>]> = [
    ["requireAuth()", async (c) => thrown(() => requireAuth(c as never))],
    ["fastify.register(m2mAuth)", (c) => fastifyRejects(c)],
    ["honoAuth()", async (c) => thrown(() => honoAuth(c as never))],
    ["withAuth()", async (c) => thrown(() => withAuth(() => new Response(), c as never))],
    ["authenticate()", (c) => rejected(authenticate(new Request("http://127.0.0.1/"), c as never))],
    ["protectedResourceMetadata()", async (c) => thrown(() => expressMetadata(c as never))],
    ["protectedResourceMetadata()", async (c) => thrown(() => fastifyMetadata(c as never))],
    ["protectedResourceMetadata()", async (c) => thrown(() => honoMetadata(c as never))],
    ["protectedResourceMetadata()", async (c) => thrown(() => webMetadata(c as never))],
  ];

  const cases: Array<[string, object, string]> = [
    [
      "a resource that is not https",
      {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { resource: "http://api.example.com/v1" },
      },
      "resourceMetadata.resource must be an https: URL (http: only on a loopback host)",
    ],
    [
      "a resource with a fragment",
      {
        issuer: "https://tenant.example.com/",
        audience: null,
        resourceMetadata: { resource: `${API_V1}#x` },
      },
      "resourceMetadata.resource must not have a query or a fragment",
    ],
    [
      "an audience list without a resource",
      { issuer: "https://tenant.example.com/", audience: [API, API_V1], resourceMetadata: {} },
      `resourceMetadata.resource is required: the verifier accepts several audiences (${API}, ${API_V1}); name the one this API is`,
    ],
    [
      "an audience that is not a URL, without a resource",
      {
        issuer: "https://tenant.example.com/",
        audience: "00000000-0000-0000-0000-000000000001",
        resourceMetadata: {},
      },
      'resourceMetadata.resource is required: the audience "00000000-0000-0000-0000-000000000001" is not a resource identifier (it is not a URL)',
    ],
    [
      "no audience check, without a resource",
      { issuer: "https://tenant.example.com/", audience: null, resourceMetadata: {} },
      "resourceMetadata.resource is required: the audience check is off (audience: null)",
    ],
    [
      "a resource the audience check would refuse",
      {
        issuer: "https://tenant.example.com/",
        audience: [API, "api://data"],
        resourceMetadata: { resource: API_V1 },
      },
      `resourceMetadata.resource must be one of the configured audiences (${API}): a token requested for ${API_V1} would be refused`,
    ],
    [
      "an authorization server that is not a configured issuer",
      {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { authorizationServers: ["https://other.example.com/"] },
      },
      "resourceMetadata.authorizationServers: https://other.example.com/ is not an issuer this API accepts (https://tenant.example.com/)",
    ],
    [
      "resourceMetadata that is not an object",
      { issuer: "https://tenant.example.com/", audience: API_V1, resourceMetadata: true },
      "resourceMetadata must be an object of resource metadata options ({} for the defaults)",
    ],
    [
      "a negative max age",
      {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { cacheMaxAgeSeconds: -1 },
      },
      "resourceMetadata.cacheMaxAgeSeconds must be a non-negative integer",
    ],
    [
      "a scope that is not a scope token",
      {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { scopesSupported: ["read data"] },
      },
      "resourceMetadata.scopesSupported must hold RFC 6749 §3.3 scope tokens",
    ],
    [
      "documentation that is not a URL",
      {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { resourceDocumentation: "docs" },
      },
      "resourceMetadata.resourceDocumentation must be an https: URL",
    ],
  ];

  for (const [label, config, message] of cases) {
    it(label, async () => {
      for (const [where, make] of makers) {
        const error = await make(config);
        expect(error, where).toBeInstanceOf(TypeError);
        expect((error as Error).message, where).toContain(message);
      }
    });
  }

  it("typos of every resourceMetadata name, in either argument, naming the adapter", async () => {
    for (const [typo, meant] of typosOf(namesOf(RESOURCE_METADATA_OPTION_NAMES))) {
      const config = {
        issuer: "https://tenant.example.com/",
        audience: API_V1,
        resourceMetadata: { [typo]: 1 },
      };
      for (const [where, make] of makers) {
        const error = await make(config);
        expectTypoError(error, typo, meant, "resourceMetadata.");
        expect((error as Error).message).toContain(`of ${where}`);
      }
      expectTypoError(
        thrown(() => requireAuth(verifier, { resourceMetadata: { [typo]: 1 } as never })),
        typo,
        meant,
        "resourceMetadata.",
      );
      expectTypoError(
        thrown(() => honoAuth(() => config as never, { resourceMetadata: { [typo]: 1 } as never })),
        typo,
        meant,
        "resourceMetadata.",
      );
    }
  });

  it("a verifier not made by createVerifier needs resource and authorizationServers", () => {
    const own: Verifier = {
      verify: verifier.verify.bind(verifier),
      warmUp: () => verifier.warmUp(),
      jwks: [],
    };
    expect(thrown(() => requireAuth(own, { resourceMetadata: {} }))).toHaveProperty(
      "message",
      "resourceMetadata.resource is required: the audiences this verifier accepts are not known ahead (a resolver, or a Verifier not made by createVerifier())",
    );
    expect(thrown(() => requireAuth(own, { resourceMetadata: { resource: API_V1 } }))).toHaveProperty(
      "message",
      "resourceMetadata.authorizationServers is required: the issuers this verifier accepts are not a fixed list (a template, a resolver, or a Verifier not made by createVerifier())",
    );
    expect(
      thrown(() =>
        requireAuth(own, { resourceMetadata: { resource: API_V1, authorizationServers: [issuer.issuer] } }),
      ),
    ).toBeUndefined();
  });

  it("a honoAuth configuration function is checked on the request it returns it for", async () => {
    const app = new Hono();
    app.use(honoAuth(() => ({ verifier, resourceMetadata: { resource: "http://api.example.com" } })));
    app.get("/data", (c) => c.text("ok"));
    app.onError((error, c) => c.text(error.message, 500));
    const response = await app.request("/data");
    expect(response.status).toBe(500);
    expect(await response.text()).toBe(
      "resourceMetadata.resource must be an https: URL (http: only on a loopback host)",
    );
  });
});
