/**
 * m2m-kit/mcp with the official MCP TypeScript SDK on both ends, over real HTTP on 127.0.0.1:
 * oidc-provider with resource indicators (RFC 8707) as the authorization server, the SDK's
 * `McpServer` on its `StreamableHTTPServerTransport` behind Express, and the SDK's `Client` on its
 * `StreamableHTTPClientTransport` with `mcpClientAuth`. Every case runs behind both gates: the SDK's
 * `requireBearerAuth` with `mcpTokenVerifier`, and m2m-kit's `mcpRequireAuth`.
 *
 * SDK versions: the "node" project runs this file against the latest `@modelcontextprotocol/sdk`
 * 1.x; on Node 20 only, the "mcp-sdk-1.16" project (vitest.config.ts, deciding by
 * `process.versions.node`) runs it again with `@modelcontextprotocol/sdk` resolved to 1.16.0, the
 * oldest version m2m-kit/mcp supports, for m2m-kit's own code and the test's alike. `.ci/run` runs
 * `npm test` on Node 20 and then on Node 24, so 1.16.0 is tested once, on the Node 20 pass.
 */
import { createServer, type Server } from "node:http";
import { InvalidTokenError, ServerError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { getOAuthProtectedResourceMetadataUrl } from "@modelcontextprotocol/sdk/server/auth/router.js";
import express, { type Express } from "express";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { protectedResourceMetadata, requireScopes } from "../../src/express/index.js";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  createVerifier,
} from "../../src/index.js";
import { mcpClientAuth, mcpRequireAuth, mcpTokenVerifier } from "../../src/mcp/index.js";
import { createTestIssuer } from "../../src/testing/index.js";
import { ManualClock } from "../support/clock.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider, type TestApi } from "../support/oidc.js";
import { connectMcp, mcpHandler } from "./mcp-sdk.js";

const SDK = inject("mcpSdk");
const OTHER = "https://billing.example.com";

let as: RunningProvider;
let http: Server;
let closeHttp: () => Promise<void>;
let origin: string;
/** The MCP server's URL: its resource identifier, and the audience of its tokens. */
let resource: string;
let metadataUrl: string;
let api: TestApi;
/** How far the MCP server's clock is ahead of this machine's. */
let skewMs = 0;
const serverClock = { now: () => Date.now() + skewMs };
/** `METHOD status` of every request the MCP server answered. */
const answered: string[] = [];

beforeAll(async () => {
  http = createServer();
  ({ url: origin, close: closeHttp } = await listen(http));
  resource = `${origin}/mcp`;
  metadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  api = { identifier: resource, scopes: ["tools:call", "tools:admin"] };
  as = await startProvider({ apis: [api, { identifier: OTHER, scopes: ["read:invoices"] }] });
});

afterAll(async () => {
  await closeHttp();
  await as.close();
});

afterEach(() => {
  skewMs = 0;
  api.ttlSeconds = undefined;
  answered.length = 0;
  as.resetCount();
});

function newClient(options: Partial<ClientCredentialsClientOptions> = {}): ClientCredentialsClient {
  return new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    clock: new ManualClock(),
    ...options,
  });
}

/** An Express app that records what it answered; `routes` adds the gate and the MCP routes. */
function mcpApp(routes: (app: Express) => void): Express {
  const app = express();
  app.use((req, res, next) => {
    res.on("finish", () => answered.push(`${req.method} ${res.statusCode}`));
    next();
  });
  routes(app);
  return app;
}

/** An MCP `initialize` request sent with `authorization` (or none), as an agent's first call. */
function initialize(authorization: string | undefined, path = "/mcp"): Promise<Response> {
  return fetch(`${origin}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(authorization !== undefined && { authorization }),
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
}

const posts = () => answered.filter((line) => line.startsWith("POST"));

interface Gate {
  name: string;
  app: () => Express;
  /** Whether a 403 challenge names the missing scope (the SDK's gate before 1.17 does not). */
  scopeInChallenge: boolean;
}

const gates: Gate[] = [
  {
    name: "the SDK's requireBearerAuth with mcpTokenVerifier",
    // SDK 1.16's requireBearerAuth writes no scope into its 403 challenge; later versions do.
    scopeInChallenge: SDK !== "1.16.0",
    app: () => {
      // A verifier that accepts the billing API's tokens too: the MCP verifier still refuses them.
      const verifier = createVerifier({ issuer: as.issuer, audience: [resource, OTHER], clock: serverClock });
      const tokens = mcpTokenVerifier(verifier, { resource });
      return mcpApp((app) => {
        app.use(protectedResourceMetadata({ verifier, resourceMetadata: { resource } }));
        app.use(express.json());
        const gate = requireBearerAuth({ verifier: tokens, resourceMetadataUrl: metadataUrl });
        const admin = requireBearerAuth({
          verifier: tokens,
          requiredScopes: ["tools:admin"],
          resourceMetadataUrl: metadataUrl,
        });
        app.all("/mcp", gate, mcpHandler);
        app.all("/mcp/admin", admin, mcpHandler);
      });
    },
  },
  {
    name: "mcpRequireAuth",
    scopeInChallenge: true,
    app: () => {
      const verifier = createVerifier({
        issuer: as.issuer,
        audience: [resource, OTHER],
        clock: serverClock,
        dpop: {},
      });
      return mcpApp((app) => {
        app.use(mcpRequireAuth({ verifier, resource, publicUrl: origin }));
        app.use(express.json());
        app.all("/mcp", mcpHandler);
        app.all("/mcp/admin", requireScopes("tools:admin"), mcpHandler);
      });
    },
  },
];

describe.each(gates)(`MCP SDK ${SDK}: $name`, (gate) => {
  beforeAll(() => {
    http.removeAllListeners("request");
    http.on("request", gate.app());
  });

  it("an agent lists and calls a tool: 20 calls cost 1 token request, with resource= the server's URL", async () => {
    const client = newClient();
    const mcp = await connectMcp(resource, mcpClientAuth(client, { resource, scope: "tools:call" }));
    const { tools } = await mcp.client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(["whoami"]);
    const seen = [];
    for (let i = 0; i < 20; i++) seen.push(await mcp.whoami());
    await mcp.close();
    expect(as.tokenRequests).toBe(1);
    const params = as.requests[0]?.params as URLSearchParams;
    expect(params.getAll("resource")).toEqual([resource]);
    expect(params.has("audience")).toBe(false);
    expect(params.get("scope")).toBe("tools:call");
    // The tool sees the SDK's AuthInfo: expiresAt in seconds, the resource, the claims.
    const last = seen[19];
    expect(last).toMatchObject({
      clientId: "basic-client",
      scopes: ["tools:call"],
      resource,
      extra: { claims: { aud: resource, client_id: "basic-client", iss: as.issuer } },
    });
    expect(last?.expiresAt).toBe(last?.extra.claims.exp);
    expect(new Set(seen.map((auth) => auth.token)).size).toBe(1);
    expect(seen[0]?.token).toBe(
      (await client.getToken({ audience: resource, scope: "tools:call" })).accessToken,
    );
    await client.close();
  });

  it("an agent without a token is pointed at the metadata, which names the resource and the authorization server", async () => {
    const res = await initialize(undefined);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain(`resource_metadata="${metadataUrl}"`);
    const metadata = await fetch(metadataUrl);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({ resource, authorization_servers: [as.issuer] });
  });

  it("a token for another resource is refused with 401 invalid_token (never a 500), and the agent's client backs off", async () => {
    const client = newClient();
    const billing = await client.getToken({ audience: OTHER });
    const res = await initialize(billing.authorization);
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
    expect(await res.json()).toMatchObject({ error: "invalid_token" });
    // An agent configured with the wrong resource never sends that resource's token to this server.
    as.resetCount();
    answered.length = 0;
    await expect(connectMcp(resource, mcpClientAuth(client, { resource: OTHER }))).rejects.toThrow(
      `the token for ${OTHER} is sent to ${OTHER} and below only`,
    );
    expect(as.tokenRequests).toBe(0);
    expect(answered).toEqual([]);
    // Told that the server runs here: its first token is replaced once, then it stops.
    await expect(
      connectMcp(resource, mcpClientAuth(client, { resource: OTHER, serverUrl: resource })),
    ).rejects.toThrow(/invalid_token/);
    expect(as.tokenRequests).toBe(1);
    expect(posts()).toEqual(["POST 401", "POST 401"]);
    await client.close();
  });

  it("a DPoP-bound token sent as a bearer token is refused with 401", async () => {
    const client = newClient({ dpop: true });
    const bound = await client.getToken({ audience: resource, scope: "tools:call" });
    expect(bound.tokenType).toBe("DPoP");
    const res = await initialize(`Bearer ${bound.accessToken}`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    await client.close();
  });

  it("a token without the route's scope is refused with 403 naming the scope and the metadata", async () => {
    const client = newClient();
    const token = await client.getToken({ audience: resource, scope: "tools:call" });
    const res = await initialize(token.authorization, "/mcp/admin");
    expect(res.status).toBe(403);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
    if (gate.scopeInChallenge) expect(challenge).toContain('scope="tools:admin"');
    else expect(challenge).not.toContain("scope=");
    expect(await res.json()).toMatchObject({ error: "insufficient_scope" });
    await client.close();
  });

  it("an expired token is refused with 401; the agent recovers with one new token", async () => {
    api.ttlSeconds = 60;
    const client = newClient();
    const mcp = await connectMcp(resource, mcpClientAuth(client, { resource, scope: "tools:call" }));
    const first = await mcp.whoami();
    expect(as.tokenRequests).toBe(1);
    // The server's clock is two minutes ahead: the agent's one-minute token has expired there, while
    // the agent still holds it as fresh. The authorization server now issues one-hour tokens.
    api.ttlSeconds = 3600;
    skewMs = 120_000;
    answered.length = 0;
    const second = await mcp.whoami();
    expect(posts()).toEqual(["POST 401", "POST 200"]);
    expect(as.tokenRequests).toBe(2);
    expect(second.token).not.toBe(first.token);
    expect((await mcp.whoami()).token).toBe(second.token);
    expect(as.tokenRequests).toBe(2);
    await mcp.close();
    await client.close();
  });
});

describe(`MCP SDK ${SDK}: mcpRequireAuth with DPoP`, () => {
  beforeAll(() => {
    http.removeAllListeners("request");
    http.on("request", (gates[1] as Gate).app());
  });

  it("an agent with dpop: true calls the tool with a DPoP-bound token; the tool sees the binding", async () => {
    const client = newClient({ dpop: true });
    const mcp = await connectMcp(resource, mcpClientAuth(client, { resource, scope: "tools:call" }));
    const seen = await mcp.whoami();
    expect((await mcp.whoami()).token).toBe(seen.token);
    await mcp.close();
    expect(seen.extra.claims.cnf).toEqual({ jkt: await client.dpopThumbprint() });
    expect(as.tokenRequests).toBe(1);
    expect(as.requests[0]?.dpop).toEqual(expect.any(String));
    expect(as.requests[0]?.params.get("resource")).toBe(resource);
    const metadata = await (await fetch(metadataUrl)).json();
    expect(metadata).toMatchObject({ resource, dpop_bound_access_tokens_required: false });
    await client.close();
  });
});

describe(`MCP SDK ${SDK}: mcpClientAuth sends the token only where the MCP server is`, () => {
  beforeAll(() => {
    http.removeAllListeners("request");
    http.on("request", (gates[1] as Gate).app());
  });

  it("a transport pointed at another server, or at another path, never gets the token: a TypeError before any token request", async () => {
    // Another MCP server (another origin): it records what it is sent.
    const seen: Array<string | undefined> = [];
    const other = await listen(
      createServer((req, res) => {
        seen.push(req.headers.authorization);
        res.writeHead(401, { "www-authenticate": "Bearer" }).end();
      }),
    );
    const client = newClient();
    try {
      const auth = mcpClientAuth(client, { resource, scope: "tools:call" });
      const refusals: unknown[] = [];
      for (const url of [`${other.url}/mcp`, `${origin}/admin/mcp`, `${origin}/mcp-admin`]) {
        refusals.push(
          await connectMcp(url, auth).then(
            () => "connected",
            (error: Error) => error.message,
          ),
        );
      }
      refusals.push(await auth.fetch(`${other.url}/mcp?x=1`, { method: "POST" }).catch((e: Error) => e));
      // The other server received nothing, least of all a token.
      expect(seen).toEqual([]);
      for (const refusal of refusals.slice(0, 3)) {
        expect(refusal).toContain(
          `mcpClientAuth(): the token for ${resource} is sent to ${resource} and below only`,
        );
      }
      expect(refusals[3]).toBeInstanceOf(TypeError);
      expect(as.tokenRequests).toBe(0);
      expect(answered).toEqual([]);
      // The server at resource, and below it, gets it.
      const mcp = await connectMcp(resource, auth);
      expect((await mcp.whoami()).resource).toBe(resource);
      await mcp.close();
      expect(as.tokenRequests).toBe(1);
    } finally {
      await client.close();
      await other.close();
    }
  });

  it("serverUrl names where a server known by another resource runs (a local instance); it is checked", async () => {
    // The same MCP server on another port: its resource is the public URL, where it runs differs.
    const local = await listen(createServer((gates[1] as Gate).app()));
    const client = newClient();
    try {
      const mcp = await connectMcp(
        `${local.url}/mcp`,
        mcpClientAuth(client, { resource, serverUrl: `${local.url}/mcp`, scope: "tools:call" }),
      );
      const seen = await mcp.whoami();
      await mcp.close();
      expect(seen).toMatchObject({ resource, extra: { claims: { aud: resource } } });
      expect(as.requests[0]?.params.get("resource")).toBe(resource);
      // Then the token goes there only, not to resource itself.
      await expect(
        connectMcp(resource, mcpClientAuth(client, { resource, serverUrl: `${local.url}/mcp` })),
      ).rejects.toThrow(`is sent to ${local.url}/mcp and below only, not to ${resource}`);
    } finally {
      await client.close();
      await local.close();
    }
    expect(() => mcpClientAuth(client, { resource, serverUrl: "http://mcp.example.com/mcp" })).toThrow(
      "serverUrl must be an https: URL (http: only on a loopback host)",
    );
    expect(() => mcpClientAuth(client, { resource, serverUrl: "https://u:p@mcp.example.com/" })).toThrow(
      "serverUrl must not contain credentials",
    );
    expect(() => mcpClientAuth(client, { resource, serverURL: resource } as never)).toThrow(
      /serverURL is not an option of mcpClientAuth\(\) \(second argument\); did you mean serverUrl\?/,
    );
  });
});

describe(`MCP SDK ${SDK}: a resource with a terminating slash`, () => {
  it("the metadata URL requireBearerAuth names (getOAuthProtectedResourceMetadataUrl) answers, without a token", async () => {
    const server = createServer();
    const running = await listen(server);
    try {
      const slashed = `${running.url}/tools/`;
      const verifier = createVerifier({ issuer: as.issuer, audience: slashed });
      const app = express();
      app.use(protectedResourceMetadata({ verifier, resourceMetadata: {} }));
      app.post(
        "/tools/",
        requireBearerAuth({
          verifier: mcpTokenVerifier(verifier, { resource: slashed }),
          resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(slashed)),
        }),
        mcpHandler,
      );
      server.on("request", app);
      const refused = await fetch(slashed, { method: "POST" });
      expect(refused.status).toBe(401);
      const named = /resource_metadata="([^"]+)"/.exec(refused.headers.get("www-authenticate") ?? "")?.[1];
      // SDK 1.16 names the bare well-known URL; later versions insert the path, slash and all.
      expect(named).toBe(
        SDK === "1.16.0"
          ? `${running.url}/.well-known/oauth-protected-resource`
          : `${running.url}/.well-known/oauth-protected-resource/tools/`,
      );
      const metadata = await fetch(named as string);
      expect(metadata.status).toBe(200);
      expect(await metadata.json()).toMatchObject({ resource: slashed, authorization_servers: [as.issuer] });
    } finally {
      await running.close();
    }
  });
});

describe(`MCP SDK ${SDK}: mcpTokenVerifier`, () => {
  it("answers AuthInfo: expiresAt in seconds, resource as a URL, the claims, tenant and delegation chain", async () => {
    const issuer = await createTestIssuer({ audience: "https://mcp.example.com/mcp" });
    try {
      const verifier = createVerifier({
        issuer: issuer.issuer,
        audience: "https://mcp.example.com/mcp",
        tenantClaim: "tid",
        tenants: ["contoso"],
      });
      const tokens = mcpTokenVerifier(verifier, { resource: "https://mcp.example.com/mcp" });
      const token = await issuer.mint({
        client_id: "agent",
        scope: "tools:call",
        tid: "contoso",
        act: { sub: "planner" },
      });
      const auth = await tokens.verifyAccessToken(token);
      const { exp } = decodeJwt(token);
      expect(auth).toMatchObject({
        token,
        clientId: "agent",
        scopes: ["tools:call"],
        expiresAt: exp,
        extra: { tenant: "contoso", actor: { sub: "planner" }, claims: { tid: "contoso" } },
      });
      expect(auth.resource).toBeInstanceOf(URL);
      expect(auth.resource?.href).toBe("https://mcp.example.com/mcp");
      // A token that names no client: the SDK's AuthInfo.clientId would be a lie.
      const anonymous = await tokens
        .verifyAccessToken(await issuer.mint({ sub: "someone", tid: "contoso" }))
        .catch((error: unknown) => error);
      expect(anonymous).toBeInstanceOf(InvalidTokenError);
      expect(anonymous).toMatchObject({ message: "token names no client (client_id, azp, cid or appid)" });
    } finally {
      await issuer.close();
    }
  });

  it("a key set that cannot be fetched is the SDK's ServerError; a refusal's description is a valid quoted-string", async () => {
    const client = newClient();
    const token = await client.getToken({ audience: resource, scope: "tools:call" });
    const dead = createServer();
    const { url: deadUrl, close } = await listen(dead);
    await close();
    const unreachable = mcpTokenVerifier(
      { issuer: as.issuer, audience: resource, jwksUri: `${deadUrl}/jwks` },
      { resource },
    );
    const error = await unreachable.verifyAccessToken(token.accessToken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ message: "access tokens cannot be checked right now" });
    // A claim policy's refusal names the claim in quotes: the SDK's gate writes the message into its
    // challenge without escaping, so the quotes become apostrophes.
    const strict = mcpTokenVerifier(
      { issuer: as.issuer, audience: resource, claims: { client_id: "another-client" } },
      { resource },
    );
    http.removeAllListeners("request");
    http.on(
      "request",
      mcpApp((app) => app.all("/mcp", requireBearerAuth({ verifier: strict }), mcpHandler)),
    );
    const res = await initialize(token.authorization);
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer error="insufficient_scope", error_description="token claim 'client_id' does not satisfy the policy"`,
    );
    await client.close();
  });
});

describe("option checks at creation", () => {
  const verifier = () =>
    createVerifier({ issuer: "https://tenant.example.com/", audience: "https://mcp.example.com/mcp" });

  it("mcpTokenVerifier: resource is required, checked, and one of the verifier's audiences", () => {
    expect(() => mcpTokenVerifier(verifier(), { resourse: "https://mcp.example.com/mcp" } as never)).toThrow(
      /resourse is not an option of mcpTokenVerifier\(\) \(second argument\); did you mean resource\?/,
    );
    expect(() => mcpTokenVerifier(verifier(), {} as never)).toThrow(TypeError);
    expect(() => mcpTokenVerifier(verifier(), { resource: "https://mcp.example.com/mcp#x" })).toThrow(
      "resource must not have a query or a fragment",
    );
    expect(() => mcpTokenVerifier(verifier(), { resource: "https://mcp.example.com/mcp/" })).toThrow(
      "resource https://mcp.example.com/mcp/ is not an audience the verifier accepts (https://mcp.example.com/mcp): its tokens would be refused",
    );
    expect(() =>
      mcpTokenVerifier({ issuer: "https://tenant.example.com/", audiance: "x" } as never, {
        resource: "https://mcp.example.com/mcp",
      }),
    ).toThrow(/audiance is not an option of mcpTokenVerifier\(\); did you mean audience\?/);
  });

  it("mcpRequireAuth: names its own options; tokens in the query or the body are refused", () => {
    const resource = "https://mcp.example.com/mcp";
    expect(() => mcpRequireAuth({ verifier: verifier(), resource, requiredScope: "x" } as never)).toThrow(
      /requiredScope is not an option of mcpRequireAuth\(\); did you mean requiredScopes\?/,
    );
    expect(() => mcpRequireAuth({ verifier: verifier(), resouce: resource } as never)).toThrow(
      /^resouce is not an option of mcpRequireAuth\(\); did you mean resource\?/,
    );
    expect(() => mcpRequireAuth({ verifier: verifier(), resource, allowQueryToken: true })).toThrow(
      "allowQueryToken is not allowed for an MCP server: MCP clients send the token in the Authorization header",
    );
    expect(() =>
      mcpRequireAuth({
        verifier: verifier(),
        resource,
        resourceMetadata: { resource: "https://other.example.com" },
      }),
    ).toThrow(`resourceMetadata.resource must be left out or equal resource (${resource})`);
    expect(() =>
      mcpRequireAuth({
        verifier: createVerifier({ issuer: "https://tenant.example.com/", audience: resource, dpop: {} }),
        resource,
      }),
    ).toThrow(/publicUrl is required with DPoP/);
  });

  it("mcpClientAuth: a client, a resource and valid scopes", () => {
    const client = newClient();
    expect(() => mcpClientAuth({} as never, { resource: "https://mcp.example.com/mcp" })).toThrow(
      "mcpClientAuth() needs a ClientCredentialsClient as its first argument",
    );
    expect(() => mcpClientAuth(client, { resource: "mcp" })).toThrow("resource is not a URL");
    expect(() =>
      mcpClientAuth(client, { resource: "https://mcp.example.com", scopes: "x" } as never),
    ).toThrow(/scopes is not an option of mcpClientAuth\(\) \(second argument\); did you mean scope\?/);
    expect(() =>
      mcpClientAuth(client, { resource: "https://mcp.example.com", scope: ['tools"call'] }),
    ).toThrow(TypeError);
  });
});
