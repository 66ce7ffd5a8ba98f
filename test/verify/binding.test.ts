/**
 * Sender-constrained tokens are never bearer tokens, in the verifier itself: `verify(token)` and
 * `verifyAccessToken` refuse a token with `cnf` unless the call states what it checked
 * (`confirmation`), on a cache hit as on a miss; and every adapter refuses a DPoP-bound token sent as
 * Bearer to an API without `dpop` (real Express, Fastify, Hono and fetch-API servers).
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  createVerifier,
  type DpopKey,
  generateDpopKey,
  type Verifier,
  verifyAccessToken,
} from "../../src/index.js";
import { cacheHits } from "../../src/verify/verifier.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
/** The `x5t#S256` of some client certificate (base64url SHA-256): the verifier compares strings. */
const CERT = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";

let issuer: KeyServer;
let key: DpopKey;
let dpopBound: string;
let certificateBound: string;
let unknownMethod: string;
let notAnObject: string;
let unbound: string;

beforeAll(async () => {
  issuer = await startKeyServer({ audience: API, algs: ["ES256"] });
  key = await generateDpopKey();
  const base = { client_id: "svc", scope: "read:data" };
  [dpopBound, certificateBound, unknownMethod, notAnObject, unbound] = await Promise.all([
    issuer.sign({ ...base, cnf: { jkt: key.thumbprint } }),
    issuer.sign({ ...base, cnf: { "x5t#S256": CERT } }),
    issuer.sign({ ...base, cnf: { jwk: key.publicJwk } }),
    issuer.sign({ ...base, cnf: key.thumbprint }),
    issuer.sign(base),
  ]);
});
afterAll(() => issuer?.close());

const verifierOf = (extra: Record<string, unknown> = {}) =>
  createVerifier({ issuer: issuer.issuer, audience: API, ...extra });

describe("verifier.verify(token) called directly", () => {
  it("refuses a cnf.jkt token; without dpop the error says this API does not accept DPoP-bound tokens", async () => {
    const error = await verifierOf()
      .verify(dpopBound)
      .catch((e) => e);
    expect(error).toMatchObject({
      name: "InvalidTokenError",
      code: "ERR_DPOP_BOUND_AS_BEARER",
      status: 401,
      message: "this API does not accept DPoP-bound access tokens (no dpop option)",
    });
    await expect(verifierOf({ dpop: {} }).verify(dpopBound)).rejects.toMatchObject({
      code: "ERR_DPOP_BOUND_AS_BEARER",
      message: "a DPoP-bound access token was sent without a DPoP proof",
    });
  });

  it("resolves with the visible opt-in: the proof key's thumbprint, or checked-by-caller; another key is refused", async () => {
    const verifier = verifierOf();
    await expect(
      verifier.verify(dpopBound, { confirmation: { jkt: key.thumbprint } }),
    ).resolves.toMatchObject({
      clientId: "svc",
    });
    await expect(verifier.verify(dpopBound, { confirmation: "checked-by-caller" })).resolves.toMatchObject({
      claims: { cnf: { jkt: key.thumbprint } },
    });
    const other = await generateDpopKey();
    await expect(
      verifier.verify(dpopBound, { confirmation: { jkt: other.thumbprint } }),
    ).rejects.toMatchObject({
      code: "ERR_DPOP_BINDING",
    });
    // A certificate is not a DPoP proof.
    await expect(verifier.verify(dpopBound, { confirmation: { "x5t#S256": CERT } })).rejects.toMatchObject({
      code: "ERR_DPOP_BOUND_AS_BEARER",
    });
  });

  it('cnf["x5t#S256"] needs the matching certificate', async () => {
    const verifier = verifierOf();
    await expect(verifier.verify(certificateBound)).rejects.toMatchObject({
      code: "ERR_CERTIFICATE_BINDING",
      message: "the access token is bound to a client certificate (RFC 8705) and the request presented none",
    });
    await expect(
      verifier.verify(certificateBound, { confirmation: { "x5t#S256": `${CERT.slice(0, -1)}A` } }),
    ).rejects.toMatchObject({ code: "ERR_CERTIFICATE_BINDING" });
    await expect(
      verifier.verify(certificateBound, { confirmation: { "x5t#S256": CERT, jkt: key.thumbprint } }),
    ).resolves.toMatchObject({ clientId: "svc" });
  });

  it("an unknown cnf member, or a cnf that is not an object, is refused whatever the call proved", async () => {
    const verifier = verifierOf({ dpop: {} });
    for (const token of [unknownMethod, notAnObject]) {
      await expect(
        verifier.verify(token, { confirmation: { jkt: key.thumbprint, "x5t#S256": CERT } }),
      ).rejects.toMatchObject({ code: "ERR_CNF_UNSUPPORTED", status: 401 });
    }
    await expect(verifier.verify(unknownMethod)).rejects.toThrow(
      "the access token is bound by a confirmation method this API does not check (cnf.jwk)",
    );
  });

  it("a cached token is refused as a fresh one is: the binding is checked on every hit", async () => {
    const verifier = verifierOf();
    const opted = { confirmation: { jkt: key.thumbprint } };
    const hitsOf = () => (verifier as Verifier & { [cacheHits]: number })[cacheHits];
    // The token enters the cache on a later verification (the doorkeeper), then is served from it.
    for (let i = 0; i < 5 && hitsOf() === 0; i++) await verifier.verify(dpopBound, opted);
    const hits = hitsOf();
    expect(hits).toBeGreaterThan(0);
    await expect(verifier.verify(dpopBound)).rejects.toMatchObject({ code: "ERR_DPOP_BOUND_AS_BEARER" });
    await expect(verifier.verify(dpopBound, opted)).resolves.toBeTruthy();
    expect(hitsOf()).toBe(hits + 1);
  });

  it("unbound tokens are unchanged, whatever the call proved", async () => {
    const verifier = verifierOf();
    await expect(verifier.verify(unbound)).resolves.toMatchObject({ clientId: "svc" });
    await expect(verifier.verify(unbound, { confirmation: { "x5t#S256": CERT } })).resolves.toBeTruthy();
  });

  it("verifyAccessToken refuses a bound token too, and takes the same opt-in", async () => {
    const options = { issuer: issuer.issuer, audience: API };
    await expect(verifyAccessToken(dpopBound, options)).rejects.toMatchObject({
      code: "ERR_DPOP_BOUND_AS_BEARER",
    });
    await expect(
      verifyAccessToken(dpopBound, { ...options, confirmation: { jkt: key.thumbprint } }),
    ).resolves.toMatchObject({ clientId: "svc" });
  });

  it("a bad confirmation is a TypeError naming it", async () => {
    const verifier = verifierOf();
    const cases: Array<[unknown, RegExp]> = [
      ["yes", /confirmation must be/],
      [{ jwk: "x" }, /confirmation\.jwk is not a known option/],
      [{ jkt: 5 }, /confirmation\.jkt must be a non-empty string/],
      [{ "x5t#S256": "" }, /confirmation\.x5t#S256 must be a non-empty string/],
    ];
    for (const [confirmation, message] of cases) {
      await expect(verifier.verify(unbound, { confirmation: confirmation as never })).rejects.toThrow(
        message,
      );
      await expect(verifier.verify(unbound, { confirmation: confirmation as never })).rejects.toBeInstanceOf(
        TypeError,
      );
    }
  });
});

type Server = { url: string; close: () => Promise<void> };
const body = (auth: { clientId?: string | undefined } | null | undefined) => ({
  client: auth?.clientId ?? null,
});

/** APIs without `dpop` (the default), each a real server on 127.0.0.1. */
const factories: Record<string, (verifier: Verifier) => Promise<Server>> = {
  express: async (verifier) => {
    const app = express();
    app.get("/data", requireAuth(verifier), (req, res) => {
      res.json(body(req.auth));
    });
    return listen(createServer(app));
  },
  fastify: async (verifier) => {
    const app = Fastify();
    await app.register(m2mAuth, { verifier, global: true });
    app.get("/data", async (request) => body(request.auth));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (verifier) => {
    const app = new Hono();
    app.get("/data", honoAuth(verifier), (c) => c.json(body(c.get("auth"))));
    return serveFetch((request) => app.fetch(request));
  },
  web: async (verifier) => serveFetch(withAuth((_request, auth) => Response.json(body(auth)), verifier)),
};

/** A Verifier of one's own (the interface is public) that checks no binding. */
function laxVerifier(): Verifier {
  const inner = verifierOf();
  return {
    verify: (token, options) => inner.verify(token, { ...options, confirmation: "checked-by-caller" }),
    warmUp: () => inner.warmUp(),
    get jwks() {
      return inner.jwks;
    },
  };
}

describe.each(Object.keys(factories))("a bound token sent as Bearer to %s without dpop", (name) => {
  let server: Server;
  let lax: Server;
  beforeAll(async () => {
    [server, lax] = await Promise.all([factories[name]!(verifierOf()), factories[name]!(laxVerifier())]);
  });
  afterAll(() => Promise.all([server?.close(), lax?.close()]));

  const call = async (token: string, at = server) => {
    const response = await fetch(`${at.url}/data`, { headers: { authorization: `Bearer ${token}` } });
    return {
      status: response.status,
      challenge: response.headers.get("www-authenticate"),
      json: (await response.json()) as Record<string, unknown>,
    };
  };

  it("cnf.jkt → 401 invalid_token: this API does not accept DPoP-bound access tokens (every time: cached too)", async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await call(dpopBound);
      expect(answer.status).toBe(401);
      expect(answer.challenge).toBe(
        'Bearer error="invalid_token", error_description="this API does not accept DPoP-bound access tokens (no dpop option)"',
      );
      expect(answer.json).toEqual({
        error: "invalid_token",
        error_description: "this API does not accept DPoP-bound access tokens (no dpop option)",
      });
    }
  });

  it('an unknown cnf member, and cnf["x5t#S256"] without a certificate → 401; an unbound token → 200', async () => {
    expect((await call(unknownMethod)).status).toBe(401);
    expect((await call(notAnObject)).status).toBe(401);
    const certificate = await call(certificateBound);
    expect(certificate.status).toBe(401);
    expect(certificate.json.error_description).toMatch(/RFC 8705/);
    expect(await call(unbound)).toEqual({ status: 200, challenge: null, json: { client: "svc" } });
  });

  it("with a Verifier of one's own that checks no binding, the adapter still refuses bound tokens", async () => {
    expect((await call(unbound, lax)).status).toBe(200);
    for (const token of [dpopBound, unknownMethod, certificateBound]) {
      expect((await call(token, lax)).status).toBe(401);
    }
  });
});
