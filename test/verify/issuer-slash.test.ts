/**
 * An issuer configured with a trailing slash the token's `iss` lacks (or the other way round) is still
 * refused — issuers match exactly — but the refusal says how the two differ, in the verifier's error
 * and in the 401 `error_description` of every adapter. Against the dev server, whose issuer has no
 * trailing slash.
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  ClientCredentialsClient,
  createVerifier,
  InvalidTokenError,
  type Verifier,
} from "../../src/index.js";
import { createTestIssuer } from "../../src/testing/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
let dev: DevServer;
let token: string;

beforeAll(async () => {
  dev = await startDevServer({
    config: {
      apis: [{ identifier: API, scopes: ["read:data"] }],
      apps: [{ clientId: "job", clientSecret: "job-secret", grants: { [API]: ["read:data"] } }],
    },
  });
  const client = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "job",
    clientSecret: "job-secret",
  });
  token = (await client.getToken({ audience: API })).accessToken;
  await client.close();
});

afterAll(async () => {
  await dev?.close();
});

const refusal = (tokenIssuer: string, expected: string) =>
  `the token's issuer is "${tokenIssuer}" but the verifier expects "${expected}" (they differ only by a trailing slash)`;

describe("issuer that differs only by a trailing slash", () => {
  it("the dev server's issuer has no trailing slash", () => {
    expect(dev.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("verify(): ERR_JWT_ISSUER naming both issuers and the difference", async () => {
    const error = await createVerifier({ issuer: `${dev.issuer}/`, audience: API })
      .verify(token)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect(error).toMatchObject({ code: "ERR_JWT_ISSUER", message: refusal(dev.issuer, `${dev.issuer}/`) });
    expect((error as Error).message).not.toContain(token);
  });

  it("among several issuers, the one that differs by the slash is named", async () => {
    const error = await createVerifier({
      issuer: ["https://tenant.example.com/", `${dev.issuer}/`],
      audience: API,
    })
      .verify(token)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_JWT_ISSUER", message: refusal(dev.issuer, `${dev.issuer}/`) });
  });

  it("a token whose iss has the slash the configuration lacks: named the other way round", async () => {
    const issuer = await createTestIssuer({ audience: API });
    try {
      const slashed = await issuer.mint({ iss: `${issuer.issuer}/`, client_id: "job" });
      const error = await createVerifier({ issuer: issuer.issuer, audience: API, jwksUri: issuer.jwksUri })
        .verify(slashed)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: "ERR_JWT_ISSUER",
        message: refusal(`${issuer.issuer}/`, issuer.issuer),
      });
    } finally {
      await issuer.close();
    }
  });

  it("any other issuer: the refusal names none", async () => {
    const error = await createVerifier({ issuer: "https://tenant.example.com/", audience: API })
      .verify(token)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_JWT_ISSUER", message: "token issuer is not accepted" });
  });

  type Started = { url: string; close: () => Promise<void> };
  const adapters: Array<[string, (verifier: Verifier) => Promise<Started>]> = [
    [
      "express",
      async (verifier) => {
        const app = express();
        app.get("/data", requireAuth(verifier), (_req, res) => {
          res.json({ ok: true });
        });
        return listen(createServer(app));
      },
    ],
    [
      "fastify",
      async (verifier) => {
        const app = Fastify();
        await app.register(m2mAuth, { verifier });
        app.get("/data", { config: { scopes: [] } }, async () => ({ ok: true }));
        await app.listen({ port: 0, host: "127.0.0.1" });
        const { port } = app.server.address() as { port: number };
        return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
      },
    ],
    [
      "hono",
      async (verifier) => {
        const app = new Hono();
        app.get("/data", honoAuth(verifier), (c) => c.json({ ok: true }));
        return serveFetch((request) => app.fetch(request));
      },
    ],
    ["web", async (verifier) => serveFetch(withAuth(() => Response.json({ ok: true }), verifier))],
  ];

  it.each(adapters)("%s: 401 invalid_token whose error_description names both issuers", async (_, start) => {
    const server = await start(createVerifier({ issuer: `${dev.issuer}/`, audience: API }));
    try {
      const response = await fetch(`${server.url}/data`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      const description = refusal(dev.issuer, `${dev.issuer}/`);
      expect(await response.json()).toEqual({ error: "invalid_token", error_description: description });
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer error="invalid_token", error_description="${description.replace(/"/g, '\\"')}"`,
      );
    } finally {
      await server.close();
    }
  });
});
