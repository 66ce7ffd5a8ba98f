/**
 * Typed handlers: Express handlers of an authenticated request and Hono routes after `honoAuth`
 * compile under `strict` without casts (the `expectTypeOf` and `@ts-expect-error` lines are checked
 * by `npm run typecheck`), and what the types promise holds on real servers: a handler that needs
 * `auth` never runs without it.
 */
import { createServer } from "node:http";
import express, { type Response } from "express";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import {
  type AuthenticatedRequest,
  authenticated,
  requireAnyScope as expressRequireAnyScope,
  requireScopes as expressRequireScopes,
  requireAuth,
} from "../../src/express/index.js";
import { type HonoAuthEnv, honoAuth, requireAnyScope, requireScopes } from "../../src/hono/index.js";
import { type AuthResult, createVerifier, type Verifier } from "../../src/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
type TenantClaims = { tenant: string };

let ks: KeyServer;
let verifier: Verifier;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  ks = await startKeyServer();
  verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await ks.close();
});

const get = (url: string, token?: string) =>
  fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("Express typed handlers", () => {
  it("authenticated<Claims>(handler): req.auth is present and typed; unauthenticated requests never reach it", async () => {
    const app = express();
    const reached: string[] = [];
    app.get(
      "/orders",
      requireAuth(verifier),
      expressRequireScopes("read:orders"),
      authenticated<TenantClaims>((req, res) => {
        expectTypeOf(req.auth).toEqualTypeOf<AuthResult & AuthResult<TenantClaims>>();
        expectTypeOf(req.auth.claims.tenant).toEqualTypeOf<string>();
        reached.push(req.auth.claims.tenant);
        res.json({ tenant: req.auth.claims.tenant, client: req.auth.clientId });
      }),
    );
    app.get(
      "/optional",
      requireAuth(verifier, { optional: true, realm: "orders" }),
      authenticated((req, res) => {
        reached.push(`optional ${req.auth.clientId}`);
        res.json({ client: req.auth.clientId });
      }),
    );
    app.get(
      "/async",
      requireAuth(verifier),
      expressRequireAnyScope("admin", "read:orders"),
      authenticated(async (req: AuthenticatedRequest, _res: Response) => {
        throw new Error(`refused ${req.auth.clientId}`);
      }),
    );
    app.use((error: Error, _req: express.Request, res: Response, _next: express.NextFunction) => {
      res.status(500).json({ handled: error.message });
    });
    // @ts-expect-error a handler of an authenticated request is not an Express handler without the wrapper
    app.get("/plain", requireAuth(verifier), (req: AuthenticatedRequest<TenantClaims>, res: Response) => {
      res.json(req.auth.claims.tenant);
    });
    const server = await listen(createServer(app));
    closers.push(server.close);

    const token = await ks.sign({ tenant: "acme", client_id: "svc", scope: "read:orders" });
    const ok = await get(`${server.url}/orders`, token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ tenant: "acme", client: "svc" });

    // optional: true lets a request without credentials through requireAuth; the typed handler
    // answers 401 itself instead of running with no auth.
    const anonymous = await get(`${server.url}/optional`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="orders"');
    expect((await get(`${server.url}/optional`, token)).status).toBe(200);

    // A rejected promise goes to the app's error handler (Express 4 does not do that itself).
    const failed = await get(`${server.url}/async`, token);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ handled: "refused svc" });
    expect(reached).toEqual(["acme", "optional svc"]);
    expect(() => authenticated(undefined as never)).toThrow(TypeError);
  });
});

describe("Hono: c.get('auth') typed through the middleware", () => {
  it("present after honoAuth and requireScopes, possibly undefined with optional or without the middleware", async () => {
    const app = new Hono()
      .get("/data", honoAuth(verifier), (c) => {
        expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult>();
        return c.json({ client: c.get("auth").clientId });
      })
      .get("/claims", honoAuth<TenantClaims>(verifier), (c) => {
        expectTypeOf(c.get("auth").claims.tenant).toEqualTypeOf<string>();
        return c.json({ tenant: c.get("auth").claims.tenant });
      })
      .get("/optional", honoAuth(verifier, { optional: true }), (c) => {
        expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult | undefined>();
        // @ts-expect-error with optional: true the token may be absent
        const unchecked = () => c.get("auth").clientId;
        void unchecked;
        return c.json({ client: c.get("auth")?.clientId ?? null });
      })
      .get("/optional-config", honoAuth({ verifier, optional: true }), (c) => {
        expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult | undefined>();
        return c.json({ client: c.get("auth")?.clientId ?? null });
      })
      .get("/open", (c) => {
        expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult | undefined>();
        // @ts-expect-error a route without the middleware has no token
        const unchecked = () => c.get("auth").clientId;
        void unchecked;
        return c.json({ client: c.get("auth")?.clientId ?? null });
      })
      .get("/any", honoAuth(verifier, { realm: "api" }), requireAnyScope("admin", "read:data"), (c) =>
        c.json({ scopes: c.get("auth").scopes }),
      )
      .get("/all", honoAuth(verifier, { realm: "api" }), requireScopes("admin", "read:data"), (c) =>
        c.json({ scopes: c.get("auth").scopes }),
      )
      .get("/scoped-optional", honoAuth(verifier, { optional: true }), requireAnyScope("read:data"), (c) => {
        // requireScopes refuses a request without a token: after it, auth is present.
        expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult>();
        return c.json({ client: c.get("auth").clientId });
      });
    // An app whose every route is protected types its environment once.
    const typed = new Hono<HonoAuthEnv<TenantClaims>>();
    typed.use(honoAuth<TenantClaims>(verifier));
    typed.get("/", (c) => c.json({ tenant: c.get("auth").claims.tenant }));
    expect(() => requireAnyScope()).toThrow(/requireAnyScope needs at least one non-empty scope/);

    const server = await serveFetch((request) => app.fetch(request));
    closers.push(server.close);
    const read = await ks.sign({ client_id: "svc", scope: "read:data", tenant: "acme" });
    expect(await (await get(`${server.url}/data`, read)).json()).toEqual({ client: "svc" });
    expect(await (await get(`${server.url}/claims`, read)).json()).toEqual({ tenant: "acme" });
    expect(await (await get(`${server.url}/optional`)).json()).toEqual({ client: null });
    expect(await (await get(`${server.url}/optional-config`, read)).json()).toEqual({ client: "svc" });
    expect(await (await get(`${server.url}/any`, read)).json()).toEqual({ scopes: ["read:data"] });
    const missing = await get(`${server.url}/all`, read);
    expect(missing.status).toBe(403);
    // The realm of the honoAuth before it (requireScopes takes no options of its own).
    expect(missing.headers.get("www-authenticate")).toMatch(
      /^Bearer realm="api", error="insufficient_scope", .*scope="admin read:data"$/,
    );
    const none = await get(`${server.url}/any`, await ks.sign({ scope: "write:data" }));
    expect(none.status).toBe(403);
    expect(none.headers.get("www-authenticate")).toContain('scope="admin read:data"');
    const anonymous = await get(`${server.url}/scoped-optional`);
    expect(anonymous.status).toBe(401);
    expect((await get(`${server.url}/scoped-optional`, read)).status).toBe(200);
  });
});
