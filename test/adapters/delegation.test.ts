/**
 * Delegation and tenants through every adapter: `allowedActors`, `delegation` and `tenants` are
 * verifier options each adapter passes through, a refused actor is a 403 `insufficient_scope` at
 * Express, Fastify, Hono and the fetch-API adapter alike, and `auth.actor` / `auth.tenant` reach
 * the handler.
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import type { AuthResult, VerifierOptions } from "../../src/index.js";
import { createTestIssuer, type TestIssuer, type TestTenant } from "../../src/testing/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
type Server = { url: string; close: () => Promise<void> };
type Factory = (options: VerifierOptions) => Promise<Server>;

const payload = (auth: AuthResult | null | undefined) => ({ tenant: auth?.tenant, actor: auth?.actor });

const FRAMEWORKS: Array<[string, Factory]> = [
  [
    "express",
    async (options) => {
      const app = express();
      app.get("/data", requireAuth(options), (req, res) => {
        res.json(payload(req.auth));
      });
      return listen(createServer(app));
    },
  ],
  [
    "fastify",
    async (options) => {
      const app = Fastify();
      await app.register(m2mAuth, { ...options, global: true });
      app.get("/data", async (request) => payload(request.auth));
      await app.listen({ port: 0, host: "127.0.0.1" });
      const { port } = app.server.address() as { port: number };
      return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
    },
  ],
  [
    "hono",
    async (options) => {
      const app = new Hono();
      app.use("/data", honoAuth(options));
      app.get("/data", (c) => c.json(payload(c.get("auth"))));
      return serveFetch((request) => app.fetch(request));
    },
  ],
  [
    "web (withAuth)",
    async (options) => serveFetch(withAuth((_request, auth) => Response.json(payload(auth)), options)),
  ],
];

let issuer: TestIssuer;
let contoso: TestTenant;
const servers: Server[] = [];

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API, algorithm: "ES256" });
  contoso = await issuer.tenant("contoso");
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await issuer?.close();
});

async function get(server: Server, token: string) {
  const response = await fetch(`${server.url}/data`, { headers: { authorization: `Bearer ${token}` } });
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate"),
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe.each(FRAMEWORKS)("%s", (_name, start) => {
  it("allowedActors: the allowed actor gets 200 with auth.actor, another actor 403 insufficient_scope", async () => {
    const server = await start({ issuer: issuer.issuer, audience: API, allowedActors: [{ sub: "agent" }] });
    servers.push(server);
    const ok = await get(
      server,
      await issuer.mint({ sub: "user", act: { sub: "agent", act: { sub: "eve" } } }),
    );
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ actor: { sub: "agent", actor: { sub: "eve" } } });

    const refused = await get(
      server,
      await issuer.mint({ sub: "user", act: { sub: "eve", act: { sub: "agent" } } }),
    );
    expect(refused.status).toBe(403);
    expect(refused.challenge).toContain('error="insufficient_scope"');
    expect(refused.body).toMatchObject({ error: "insufficient_scope" });
    expect(JSON.stringify(refused.body)).not.toContain("eve");
  });

  it('delegation: "forbid" is a 403; a template\'s tenant reaches the handler', async () => {
    const server = await start({
      issuer: `${issuer.issuer}/{tenantid}`,
      tenants: ["contoso"],
      tenantClaim: "tid",
      audience: API,
      delegation: "forbid",
    });
    servers.push(server);
    const ok = await get(server, await contoso.mint({ tid: "contoso" }));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ tenant: "contoso" });
    const delegated = await get(server, await contoso.mint({ tid: "contoso", act: { sub: "agent" } }));
    expect(delegated.status).toBe(403);
    const crossed = await get(server, await contoso.mint({ tid: "fabrikam" }));
    expect(crossed.status).toBe(401);
  });
});
