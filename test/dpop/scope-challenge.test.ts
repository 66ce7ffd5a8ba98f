/**
 * A 403 for a missing scope carries the challenge of the scheme the request used (RFC 9449 §7.1,
 * RFC 6750 §3.1): `DPoP` for a DPoP-bound token, `Bearer` for a bearer token, on the scope helpers of
 * Express, Fastify and Hono, each a real server on 127.0.0.1.
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireScopes as expressScopes, requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth, requireScopes as honoScopes } from "../../src/hono/index.js";
import { createVerifier } from "../../src/index.js";
import { createTestClient, createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
type Server = { url: string; close: () => Promise<void> };
let issuer: TestIssuer;
const servers: Record<string, Server> = {};

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API });
  const verifier = () => createVerifier({ issuer: issuer.issuer, audience: API, dpop: {} });

  const app = express();
  app.get(
    "/data",
    requireAuth(verifier(), { publicUrl: "host-header" }),
    expressScopes("write:data"),
    (_q, r) => {
      r.json({ ok: true });
    },
  );
  servers.express = await listen(createServer(app));

  const fastify = Fastify();
  await fastify.register(m2mAuth, { verifier: verifier(), publicUrl: "host-header" });
  fastify.get("/data", { onRequest: fastify.requireAuth({ scopes: ["write:data"] }) }, async () => ({
    ok: true,
  }));
  await fastify.listen({ port: 0, host: "127.0.0.1" });
  const { port } = fastify.server.address() as { port: number };
  servers.fastify = { url: `http://127.0.0.1:${port}`, close: () => fastify.close() };

  const hono = new Hono();
  hono.get("/data", honoAuth(verifier(), { publicUrl: "host-header" }), honoScopes("write:data"), (c) =>
    c.json({ ok: true }),
  );
  servers.hono = await serveFetch((request) => hono.fetch(request));
});

afterAll(async () => {
  for (const server of Object.values(servers)) await server.close();
  await issuer?.close();
});

describe.each(["express", "fastify", "hono"])("%s: 403 insufficient_scope", (name) => {
  it("a DPoP-bound token gets a DPoP challenge naming the scope", async () => {
    const client = createTestClient(issuer, { client_id: "svc", scope: "read:data" }, { dpop: true });
    const res = await client.fetch(`${servers[name]?.url}/data`);
    expect(res.status).toBe(403);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^DPoP /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="write:data"');
  });

  it("a bearer token gets a Bearer challenge naming the scope", async () => {
    const client = createTestClient(issuer, { client_id: "svc", scope: "read:data" });
    const res = await client.fetch(`${servers[name]?.url}/data`);
    expect(res.status).toBe(403);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="write:data"');
  });
});
