/**
 * A DPoP proof is good for the route it names only. The `htu` comparison removes dot segments
 * (RFC 3986 §6.2.2.3), while Express and Fastify route on the raw request target: a proof made for
 * `GET /orders` must not open `/admin/../orders`, which they hand to the `/admin` handler. Every
 * adapter refuses a target with a dot segment on the DPoP path (401 `invalid_dpop_proof`); fetch-API
 * servers (Hono, the web adapter) route on the normalized URL, so the route that answers is the one
 * the proof names. Requests go out over node:http with a raw `path` (fetch would normalize it).
 * Also: the proof verifier's `verify(request)` refuses a misspelt request member (`acessToken`).
 */
import { createServer, request as httpRequest } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  type AccessToken,
  ClientCredentialsClient,
  createDpopProofVerifier,
  createVerifier,
} from "../../src/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { rejected } from "../support/option-names.js";

const API = "https://api.example.com";
type Server = { url: string; close: () => Promise<void> };

let provider: RunningProvider;
let client: ClientCredentialsClient;
let token: AccessToken;
const closers: Server[] = [];

const auth = () => ({
  verifier: createVerifier({ issuer: provider.issuer, audience: API, jwksUri: provider.jwksUri, dpop: {} }),
  publicUrl: API,
});

/** Each API: `/orders` for readers, `/admin/…` for administrators, every route behind DPoP. */
const apis: Record<string, () => Promise<Server>> = {
  express: async () => {
    const app = express();
    app.use(requireAuth(auth()));
    app.use("/admin", (_req, res) => {
      res.json({ route: "admin" });
    });
    app.get("/orders", (_req, res) => {
      res.json({ route: "orders" });
    });
    return listen(createServer(app));
  },
  fastify: async () => {
    const app = Fastify();
    await app.register(m2mAuth, { ...auth(), global: true });
    app.get("/admin/*", async () => ({ route: "admin" }));
    app.get("/orders", async () => ({ route: "orders" }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async () => {
    const app = new Hono();
    app.use("*", honoAuth(auth()));
    app.get("/admin/*", (c) => c.json({ route: "admin" }));
    app.get("/orders", (c) => c.json({ route: "orders" }));
    return serveFetch((request) => app.fetch(request));
  },
  web: async () =>
    serveFetch(
      withAuth((request) => {
        const route = new URL(request.url).pathname.startsWith("/admin/") ? "admin" : "orders";
        return Response.json({ route });
      }, auth()),
    ),
};

beforeAll(async () => {
  provider = await startProvider();
  client = new ClientCredentialsClient({
    issuer: provider.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
    dpop: true,
  });
  token = await client.getToken();
});
afterAll(async () => {
  for (const server of closers) await server.close();
  await client?.close();
  await provider?.close();
});

/** GET with a raw request target (node:http sends `path` as it is). */
function get(base: string, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; challenge: string | undefined; body: unknown }>((resolve, reject) => {
    const request = httpRequest(`${base}/`, { path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: response.statusCode ?? 0,
          challenge: response.headers["www-authenticate"] as string | undefined,
          body: text.startsWith("{") ? JSON.parse(text) : text,
        });
      });
    });
    request.on("error", reject);
    request.end();
  });
}

/** A request with a fresh proof for `GET https://api.example.com/orders`, sent to `path`. */
async function withOrdersProof(base: string, path: string) {
  const proof = await client.dpopProof("GET", `${API}/orders`, token);
  return get(base, path, { authorization: `DPoP ${token.accessToken}`, dpop: proof });
}

const DOT_PATHS = [
  "/admin/../orders",
  "/admin/%2e%2e/orders",
  "/admin/%2E%2E/orders",
  "/admin/.%2e/orders",
  "/admin/./../orders",
];

describe.each(["express", "fastify"])("%s routes on the raw target", (name) => {
  let server: Server;
  beforeAll(async () => {
    server = await apis[name]!();
    closers.push(server);
  });

  it("the proof for /orders works at /orders", async () => {
    const answer = await withOrdersProof(server.url, "/orders");
    expect(answer).toMatchObject({ status: 200, body: { route: "orders" } });
  });

  it.each(DOT_PATHS)("%s: 401 invalid_dpop_proof, the admin handler never runs", async (path) => {
    const answer = await withOrdersProof(server.url, path);
    expect(answer.status).toBe(401);
    expect(answer.challenge).toMatch(
      /^DPoP error="invalid_dpop_proof", error_description="the request target has a dot segment/,
    );
    expect(answer.body).toMatchObject({ error: "invalid_dpop_proof" });
  });
});

describe.each(["hono", "web"])("%s routes on the fetch API's normalized URL", (name) => {
  let server: Server;
  beforeAll(async () => {
    server = await apis[name]!();
    closers.push(server);
  });

  it.each(DOT_PATHS)("%s: the route that answers is the one the proof names", async (path) => {
    const answer = await withOrdersProof(server.url, path);
    expect(answer).toMatchObject({ status: 200, body: { route: "orders" } });
  });

  it("a proof for /orders never opens /admin/x", async () => {
    const answer = await withOrdersProof(server.url, "/admin/x");
    expect(answer.status).toBe(401);
    expect(answer.challenge).toMatch(/error="invalid_dpop_proof"/);
  });
});

describe("createDpopProofVerifier().verify(request) checks the request's names", () => {
  it("acessToken (for accessToken) rejects instead of skipping the ath check (RFC 9449 §4.3)", async () => {
    const verifier = createDpopProofVerifier();
    const proof = await client.dpopProof("GET", `${API}/orders`, token);
    const other = "another-access-token";
    const misspelt = await rejected(
      verifier.verify({ proof, method: "GET", url: `${API}/orders`, acessToken: other } as never),
    );
    expect(misspelt).toBeInstanceOf(TypeError);
    expect((misspelt as Error).message).toMatch(
      /acessToken is not an option of .*did you mean accessToken\?/,
    );
    // Spelt right, the proof is refused for another token, and accepted for its own.
    const refused = await rejected(
      verifier.verify({ proof, method: "GET", url: `${API}/orders`, accessToken: other }),
    );
    expect(refused).toMatchObject({ code: "ERR_DPOP_ATH" });
    const checked = await verifier.verify({
      proof,
      method: "GET",
      url: `${API}/orders`,
      accessToken: token.accessToken,
    });
    expect(checked.thumbprint).toBe(await client.dpopThumbprint());
  });

  it("a request URL with a dot segment is refused there too", async () => {
    const verifier = createDpopProofVerifier();
    const proof = await client.dpopProof("GET", `${API}/orders`, token);
    const refused = await rejected(
      verifier.verify({
        proof,
        method: "GET",
        url: `${API}/admin/%2E%2E/orders`,
        accessToken: token.accessToken,
      }),
    );
    expect(refused).toMatchObject({ code: "ERR_DPOP_HTU" });
  });
});
