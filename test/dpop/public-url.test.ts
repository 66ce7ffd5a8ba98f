/**
 * The public URL of a request (DPoP `htu`, RFC 9449 §4.3 step 9) behind a real reverse proxy that
 * ends TLS: with `publicUrl`, Express, Fastify, Hono and the fetch-API adapter accept a proof made for
 * the URL the client called, and refuse a proof made for another host sent with a spoofed `Host`
 * header. DPoP without `publicUrl` fails at creation with a TypeError naming it.
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
  createDpopProof,
  createVerifier,
  type DpopKey,
  generateDpopKey,
  type Verifier,
} from "../../src/index.js";
import { createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { authenticate, withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type ReverseProxy, startReverseProxy } from "../support/reverse-proxy.js";

const API = "https://api.example.com";
type Server = { url: string; close: () => Promise<void> };
/** An API on 127.0.0.1 whose adapter has `publicUrl`; `trust`: the framework trusts the proxy. */
type Factory = (verifier: Verifier, publicUrl: string | undefined, trust?: boolean) => Promise<Server>;

const body = (auth: { clientId?: string | undefined } | null | undefined) => ({
  client: auth?.clientId ?? null,
});

const factories: Record<string, Factory> = {
  express: async (verifier, publicUrl, trust) => {
    const app = express();
    if (trust) app.set("trust proxy", "loopback");
    app.get("/data", requireAuth(verifier, { publicUrl }), (req, res) => {
      res.json(body(req.auth));
    });
    return listen(createServer(app));
  },
  fastify: async (verifier, publicUrl, trust) => {
    const app = Fastify({ trustProxy: trust === true });
    await app.register(m2mAuth, { verifier, global: true, publicUrl });
    app.get("/data", async (request) => body(request.auth));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (verifier, publicUrl) => {
    const app = new Hono();
    app.get("/data", honoAuth(verifier, { publicUrl }), (c) => c.json(body(c.get("auth"))));
    return serveFetch((request) => app.fetch(request));
  },
  web: async (verifier, publicUrl) =>
    serveFetch(withAuth((_request, auth) => Response.json(body(auth)), verifier, { publicUrl })),
};

/** A request over node:http, so that `Host` can be anything. */
function send(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; challenge: string; json: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = httpRequest(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            challenge: String(res.headers["www-authenticate"] ?? ""),
            json: text ? JSON.parse(text) : {},
          });
        });
      });
      req.on("error", reject);
      req.end();
    },
  );
}

let issuer: TestIssuer;
let key: DpopKey;
let token: string;
beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API });
  key = await generateDpopKey();
  token = await issuer.mint({ client_id: "svc" }, { dpopKey: key });
});
afterAll(() => issuer?.close());

const verifierOf = () => createVerifier({ issuer: issuer.issuer, audience: API, dpop: {} });

/** Sends the token with a fresh proof made for `htu` to `url`, with `Host: host`. */
async function callWithProof(url: string, host: string, htu: string) {
  const proof = await createDpopProof(key, { method: "GET", url: htu, accessToken: token });
  return send(url, { host, authorization: `DPoP ${token}`, dpop: proof });
}

describe.each(Object.keys(factories))("publicUrl on %s behind a TLS-terminating reverse proxy", (name) => {
  const factory = factories[name]!;
  let api: Server;
  let proxy: ReverseProxy;
  let prefixed: Server;
  let stripping: ReverseProxy;
  beforeAll(async () => {
    [api, prefixed] = await Promise.all([
      factory(verifierOf(), "https://api.example.com"),
      factory(verifierOf(), "https://api.example.com/v1/"),
    ]);
    [proxy, stripping] = await Promise.all([
      startReverseProxy(api.url),
      startReverseProxy(prefixed.url, { stripPrefix: "/v1" }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([proxy, stripping].map((p) => p?.close()));
    await Promise.all([api, prefixed].map((s) => s?.close()));
  });

  it("a proof made for the public URL is accepted (query ignored)", async () => {
    const answer = await callWithProof(`${proxy.url}/data?page=2`, "api.example.com", `${API}/data?page=2`);
    expect(answer).toMatchObject({ status: 200, json: { client: "svc" } });
  });

  it("a proof made for another host, sent with a spoofed Host header, is refused", async () => {
    for (const htu of ["https://evil.example/data", "http://evil.example/data"]) {
      for (const url of [`${proxy.url}/data`, `${api.url}/data`]) {
        const answer = await callWithProof(url, "evil.example", htu);
        expect(answer.status).toBe(401);
        expect(answer.challenge).toMatch(/^DPoP error="invalid_dpop_proof"/);
        expect(answer.json).toEqual({
          error: "invalid_dpop_proof",
          error_description: "the DPoP proof's htu is not the request URL",
        });
      }
    }
  });

  it("a base path: the proxy strips /v1, proofs name https://api.example.com/v1/…", async () => {
    const ok = await callWithProof(`${stripping.url}/v1/data`, "api.example.com", `${API}/v1/data`);
    expect(ok).toMatchObject({ status: 200, json: { client: "svc" } });
    const withoutBase = await callWithProof(`${stripping.url}/v1/data`, "api.example.com", `${API}/data`);
    expect(withoutBase.status).toBe(401);
  });
});

describe.each(["express", "fastify"])(
  'publicUrl: "host-header" on %s follows the framework\'s trust-proxy rules',
  (name) => {
    let api: Server;
    let proxy: ReverseProxy;
    beforeAll(async () => {
      api = await factories[name]!(verifierOf(), "host-header", true);
      proxy = await startReverseProxy(api.url);
    });
    afterAll(async () => {
      await proxy?.close();
      await api?.close();
    });

    it("X-Forwarded-Proto and X-Forwarded-Host from a trusted proxy make the URL", async () => {
      const answer = await callWithProof(`${proxy.url}/data`, "api.example.com", `${API}/data`);
      expect(answer).toMatchObject({ status: 200, json: { client: "svc" } });
    });
  },
);

describe("creation", () => {
  const verifier = () => verifierOf();
  const makers: Record<string, (options: Record<string, unknown>) => unknown> = {
    express: (options) => requireAuth(verifier(), options),
    "express (verifier options)": (options) =>
      requireAuth({ issuer: issuer.issuer, audience: API, dpop: {}, ...options }),
    hono: (options) => honoAuth(verifier(), options),
    web: (options) => withAuth(() => new Response(), verifier(), options),
  };

  it.each(Object.keys(makers))("%s: DPoP without publicUrl is a TypeError naming publicUrl", (name) => {
    expect(() => makers[name]!({})).toThrow(TypeError);
    expect(() => makers[name]!({})).toThrow(/^publicUrl is required with DPoP/);
    expect(() => makers[name]!({ publicUrl: "host-header" })).not.toThrow();
    expect(() => makers[name]!({ publicUrl: "https://api.example.com/base" })).not.toThrow();
  });

  it("Fastify and authenticate(): the same TypeError", async () => {
    const app = Fastify();
    await expect(app.register(m2mAuth, { verifier: verifier(), global: true })).rejects.toThrow(
      /^publicUrl is required with DPoP/,
    );
    await app.close();
    await expect(authenticate(new Request("https://api.example.com/data"), verifier())).rejects.toThrow(
      /^publicUrl is required with DPoP/,
    );
  });

  it.each([
    ["ftp://api.example.com", /publicUrl must be an https: or http: origin/],
    ["api.example.com", /publicUrl must be an https: or http: origin/],
    ["", /publicUrl must be an https: or http: origin/],
    [42, /publicUrl must be an https: or http: origin/],
    ["https://user:secret@api.example.com", /publicUrl must not contain credentials/],
    ["https://api.example.com/?x=1", /publicUrl must not have a query or a fragment/],
    ["https://api.example.com/#top", /publicUrl must not have a query or a fragment/],
  ])("publicUrl %j is refused at creation", (value, message) => {
    for (const make of Object.values(makers)) expect(() => make({ publicUrl: value })).toThrow(message);
    // Without DPoP too: a bad value is a mistake whatever it is used for.
    const plain = createVerifier({ issuer: issuer.issuer, audience: API });
    expect(() => requireAuth(plain, { publicUrl: value as string })).toThrow(message);
  });

  it("without DPoP, no publicUrl is needed", () => {
    const plain = createVerifier({ issuer: issuer.issuer, audience: API });
    expect(() => requireAuth(plain)).not.toThrow();
    expect(() => honoAuth(plain)).not.toThrow();
  });
});
