/**
 * Adapters fail closed and never crash: real Express, Fastify, Hono and fetch-API servers on 127.0.0.1 must keep
 * answering after an error while answering a refusal; two Authorization headers are a 400; errors
 * from the other build (CommonJS) are recognised by code; Fastify route config is checked when the
 * route is registered; the plugin works in a parent and a child context; one Express app accepts
 * two issuers with their own audience rules.
 */
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { connect } from "node:net";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, describe, expect, it } from "vitest";
import { requireAuth, requireScopes } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth, requireAnyScope as honoRequireAnyScope } from "../../src/hono/index.js";
import { createVerifier, type Verifier, type VerifierEvent } from "../../src/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function keyServer(): Promise<KeyServer> {
  const ks = await startKeyServer();
  closers.push(() => ks.close());
  return ks;
}

async function expressApp(setup: (app: express.Express) => void): Promise<string> {
  const app = express();
  setup(app);
  const server = await listen(createServer(app));
  closers.push(server.close);
  return server.url;
}

async function fastifyApp(setup: (app: ReturnType<typeof Fastify>) => Promise<void>): Promise<string> {
  const app = Fastify();
  await setup(app);
  await app.listen({ port: 0, host: "127.0.0.1" });
  closers.push(() => app.close());
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

const get = (url: string, token?: string) =>
  fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

/** A request with two Authorization fields, written on a raw socket (fetch would merge them). */
function twoAuthorizations(base: string, path: string, first: string, second: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${first}\r\nAuthorization: ${second}\r\nConnection: close\r\n\r\n`,
      );
    });
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk.toString();
    });
    socket.on("end", () => resolve(Number(text.split(" ")[1])));
    socket.on("error", reject);
  });
}

/** A token with a kid the JWKS does not have: the verifier must fetch (the asynchronous path). */
async function unknownKidToken(ks: KeyServer): Promise<string> {
  const stranger = await startKeyServer();
  closers.push(() => stranger.close());
  return stranger.sign({ iss: ks.issuer, aud: API });
}

const throwingBody = () => {
  throw new Error("errorBody broke");
};

describe("adapters fail closed and stay up", () => {
  it("Express: errorBody that throws, both paths → 500 through next(err); the server still answers", async () => {
    const ks = await keyServer();
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const url = await expressApp((app) => {
      app.get("/data", requireAuth(verifier, { errorBody: throwingBody }), (_req, res) => {
        res.json({ ok: true });
      });
    });
    expect((await get(`${url}/data`, "not-a-jwt")).status).toBe(500);
    expect((await get(`${url}/data`, await unknownKidToken(ks))).status).toBe(500);
    expect((await get(`${url}/data`, await ks.sign())).status).toBe(200);
  });

  it("Express: a timeout middleware answered first; the refusal is not sent twice, the server stays up", async () => {
    const ks = await keyServer();
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const events: VerifierEvent[] = [];
    const url = await expressApp((app) => {
      app.use((_req, res, next) => {
        res.status(503).json({ error: "timeout" });
        next();
      });
      app.get("/data", requireAuth(verifier, { onEvent: (e) => events.push(e) }), (_req, res) => {
        if (!res.headersSent) res.json({ ok: true });
      });
    });
    expect((await get(`${url}/data`, await unknownKidToken(ks))).status).toBe(503);
    expect((await get(`${url}/data`, "garbage!")).status).toBe(503);
    expect((await get(`${url}/data`)).status).toBe(503);
    expect(events.some((e) => e.type === "response_failed")).toBe(true);
  });

  it("Fastify: errorBody that throws, both paths → Fastify's error handling; the server still answers", async () => {
    const ks = await keyServer();
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const url = await fastifyApp(async (app) => {
      await app.register(m2mAuth, { verifier, errorBody: throwingBody });
      app.get("/data", { config: { scopes: [] } }, async () => ({ ok: true }));
    });
    expect((await get(`${url}/data`, "not-a-jwt")).status).toBe(500);
    expect((await get(`${url}/data`, await unknownKidToken(ks))).status).toBe(500);
    expect((await get(`${url}/data`, await ks.sign())).status).toBe(200);
  });
});

describe("fetch-API adapters fail closed and stay up", () => {
  /** A web app and a Hono app on real servers, whose errorBody hook throws. */
  async function apps(ks: KeyServer, events: VerifierEvent[], ran: string[]) {
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const settings = { errorBody: throwingBody, onEvent: (e: VerifierEvent) => events.push(e) };
    const web = await serveFetch(
      withAuth(
        (_request, auth) => {
          ran.push(`web ${auth.clientId}`);
          return Response.json({ ok: true });
        },
        verifier,
        settings,
      ),
    );
    closers.push(web.close);
    const app = new Hono();
    app.get("/data", honoAuth(verifier, settings), (c) => {
      ran.push(`hono ${c.get("auth").clientId}`);
      return c.json({ ok: true });
    });
    app.get("/admin", honoAuth(verifier, settings), honoRequireAnyScope("admin"), (c) => {
      ran.push(`hono admin ${c.get("auth").clientId}`);
      return c.json({ ok: true });
    });
    app.onError((error, c) => c.json({ onError: error.message }, 500));
    const hono = await serveFetch((request) => app.fetch(request));
    closers.push(hono.close);
    return { web: `${web.url}/data`, hono: `${hono.url}/data`, admin: `${hono.url}/admin` };
  }

  it("web and Hono: errorBody that throws, both paths → the runtime's / app.onError's 500, never the handler", async () => {
    const ks = await keyServer();
    const events: VerifierEvent[] = [];
    const ran: string[] = [];
    const { web, hono, admin } = await apps(ks, events, ran);
    const unknownKid = await unknownKidToken(ks);
    for (const url of [web, hono]) {
      expect((await get(url, "not-a-jwt")).status).toBe(500);
      expect((await get(url, unknownKid)).status).toBe(500);
      expect((await get(url)).status).toBe(500);
    }
    const adminRefused = await get(admin, await ks.sign({ client_id: "svc", scope: "read" }));
    expect(adminRefused.status).toBe(500);
    expect(await adminRefused.json()).toEqual({ onError: "errorBody broke" });
    const failed = events.filter((e) => e.type === "response_failed");
    expect(failed).toHaveLength(7);
    expect(failed.map((e) => (e as { status: number }).status).sort()).toEqual([
      401, 401, 401, 401, 401, 401, 403,
    ]);
    expect(ran).toEqual([]);
    // The servers still answer.
    const token = await ks.sign({ client_id: "svc", scope: "admin" });
    for (const url of [web, hono, admin]) expect((await get(url, token)).status).toBe(200);
    expect(ran).toEqual(["web svc", "hono svc", "hono admin svc"]);
  });
});

describe("two Authorization headers", () => {
  it("are a 400 invalid_request on the web adapter and Hono, valid first or not", async () => {
    const ks = await keyServer();
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const token = await ks.sign();
    const web = await serveFetch(withAuth(() => Response.json({ ok: true }), verifier));
    closers.push(web.close);
    const app = new Hono().get("/data", honoAuth(verifier), (c) => c.json({ ok: true }));
    const hono = await serveFetch((request) => app.fetch(request));
    closers.push(hono.close);
    for (const url of [web.url, hono.url]) {
      expect(await twoAuthorizations(url, "/data", `Bearer ${token}`, "Bearer garbage")).toBe(400);
      expect(await twoAuthorizations(url, "/data", "Bearer garbage", `Bearer ${token}`)).toBe(400);
      expect(await twoAuthorizations(url, "/data", `Bearer ${token}`, `Bearer ${token}`)).toBe(400);
      expect((await get(`${url}/data`, token)).status).toBe(200);
    }
  });

  it("are a 400 invalid_request on Express and Fastify, valid first or not", async () => {
    const ks = await keyServer();
    const verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const token = await ks.sign();
    const e = await expressApp((app) => {
      app.get("/data", requireAuth(verifier), (_req, res) => {
        res.json({ ok: true });
      });
    });
    const f = await fastifyApp(async (app) => {
      await app.register(m2mAuth, { verifier });
      app.get("/data", { config: { scopes: [] } }, async () => ({ ok: true }));
    });
    for (const url of [e, f]) {
      expect(await twoAuthorizations(url, "/data", `Bearer ${token}`, "Bearer garbage")).toBe(400);
      expect(await twoAuthorizations(url, "/data", "Bearer garbage", `Bearer ${token}`)).toBe(400);
      expect((await get(`${url}/data`, token)).status).toBe(200);
    }
  });
});

describe("errors recognised by code across builds", () => {
  it("a verifier from the CommonJS build handed to the ESM adapters: a bad token is 401, a 503 stays 503", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("../../dist/index.cjs") as { createVerifier: typeof createVerifier };
    const ks = await keyServer();
    const verifier = cjs.createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwksUri: ks.jwksUri,
    }) as Verifier;
    const down = cjs.createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwksUri: "http://127.0.0.1:9/jwks",
    }) as Verifier;
    const events: VerifierEvent[] = [];
    const url = await expressApp((app) => {
      app.get("/data", requireAuth(verifier), (_req, res) => {
        res.json({ ok: true });
      });
      app.get("/down", requireAuth(down, { onEvent: (e) => events.push(e) }), (_req, res) => {
        res.json({ ok: true });
      });
    });
    const expired = await ks.sign({ exp: Math.floor(Date.now() / 1000) - 600 });
    const res = await get(`${url}/data`, expired);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect((await get(`${url}/data`, await ks.sign())).status).toBe(200);
    expect((await get(`${url}/down`, await ks.sign())).status).toBe(503);
    const refused = events.find((e) => e.type === "request_refused");
    expect(refused).toMatchObject({ status: 503, code: "ERR_VERIFIER_UNAVAILABLE" });
    expect((refused as { cause: { code: string } }).cause.code).toBe("ERR_VERIFIER_UNAVAILABLE");
  });
});

describe("Fastify", () => {
  it.each([
    [{ scope: ["read"] }, "config.scope"],
    [{ anyScopes: ["read"] }, "config.anyScopes"],
    [{ scopes: "read" }, "config.scopes must be an array"],
    [{ auth: "no" }, "config.auth must be a boolean"],
  ])("route config %j refuses to start, naming the route and the key", async (config, message) => {
    const app = Fastify();
    closers.push(() => app.close());
    await app.register(m2mAuth, { issuer: "https://issuer.example.com/", audience: API });
    await expect(
      (async () => {
        app.get("/orders", { config: config as never }, async () => ({ ok: true }));
        await app.ready();
      })(),
    ).rejects.toThrow(new RegExp(`GET /orders: ${message.replace(/\./g, "\\.")}`));
  });

  it("the plugin registered in a parent and a child context, each with its own audience", async () => {
    const ks = await keyServer();
    const url = await fastifyApp(async (app) => {
      await app.register(m2mAuth, { issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
      app.get("/parent", { config: { scopes: [] } }, async () => ({ where: "parent" }));
      await app.register(async (child: ReturnType<typeof Fastify>) => {
        await child.register(m2mAuth, {
          issuer: ks.issuer,
          audience: "https://admin.example.com",
          jwksUri: ks.jwksUri,
        });
        child.get("/child", { config: { scopes: [] } }, async () => ({ where: "child" }));
        child.get(
          "/hooked",
          { onRequest: child.requireAuth(), preHandler: child.requireScopes("admin") },
          async () => ({
            where: "hooked",
          }),
        );
      });
    });
    const apiToken = await ks.sign();
    const adminToken = await ks.sign({ aud: "https://admin.example.com", scope: "admin" });
    expect((await get(`${url}/parent`, apiToken)).status).toBe(200);
    expect((await get(`${url}/parent`, adminToken)).status).toBe(401);
    expect((await get(`${url}/child`, adminToken)).status).toBe(200);
    expect((await get(`${url}/child`, apiToken)).status).toBe(401);
    expect((await get(`${url}/hooked`, adminToken)).status).toBe(200);
    expect((await get(`${url}/hooked`, apiToken)).status).toBe(401);
  });
});

describe("one Express app, two issuers with their own audience rules", () => {
  it("accepts a Cognito-shaped and an Auth0-shaped token; wrong-audience twins are refused", async () => {
    const cognito = await keyServer();
    const auth0 = await keyServer();
    const url = await expressApp((app) => {
      app.use(
        requireAuth({
          issuers: [
            {
              issuer: cognito.issuer,
              audience: "app-client-id",
              provider: "cognito",
              jwksUri: cognito.jwksUri,
            },
            { issuer: auth0.issuer, audience: API, provider: "auth0", jwksUri: auth0.jwksUri },
          ],
        }),
      );
      app.get("/orders", requireScopes("read:orders"), (req, res) => {
        res.json({ issuer: req.auth?.issuer, client: req.auth?.clientId });
      });
    });
    const cognitoToken = await cognito.sign({
      aud: undefined,
      client_id: "app-client-id",
      token_use: "access",
      scope: "read:orders",
    });
    const auth0Token = await auth0.sign({ azp: "auth0-app", permissions: ["read:orders"] });
    const a = await get(`${url}/orders`, cognitoToken);
    expect(a.status).toBe(200);
    expect(await a.json()).toEqual({ issuer: cognito.issuer, client: "app-client-id" });
    const b = await get(`${url}/orders`, auth0Token);
    expect(b.status).toBe(200);
    expect(await b.json()).toEqual({ issuer: auth0.issuer, client: "auth0-app" });
    const cognitoTwin = await cognito.sign({
      aud: undefined,
      client_id: "another-app",
      token_use: "access",
      scope: "read:orders",
    });
    const auth0Twin = await auth0.sign({ aud: "https://other.example.com", permissions: ["read:orders"] });
    for (const twin of [cognitoTwin, auth0Twin]) {
      const res = await get(`${url}/orders`, twin);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
  });
});
