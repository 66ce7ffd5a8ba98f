/**
 * DPoP at the API (RFC 9449 §7): Express 5, Fastify 5, Hono and a plain fetch-API handler, each a real
 * server on 127.0.0.1, take the client's DPoP calls, answer a nonce challenge, and refuse every
 * attack of the table with the RFC's status and challenge.
 */
import { request as httpRequest } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  type AccessToken,
  accessTokenHash,
  ClientCredentialsClient,
  createDpopNonce,
  createDpopProof,
  createMemoryReplayStore,
  createVerifier,
  type DpopKey,
  type DpopOptions,
  generateDpopKey,
  importDpopKey,
} from "../../src/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
type Server = { url: string; close: () => Promise<void> };
type Factory = (dpop: DpopOptions) => Promise<Server>;

let provider: RunningProvider;
const verifierFor = (dpop: DpopOptions) =>
  createVerifier({ issuer: provider.issuer, audience: API, jwksUri: provider.jwksUri, dpop });
const body = (auth: { clientId?: string | undefined } | undefined | null) => ({
  client: auth?.clientId ?? null,
});

const factories: Record<string, Factory> = {
  express: async (dpop) => {
    const app = express();
    app.get("/data", requireAuth({ verifier: verifierFor(dpop), publicUrl: "host-header" }), (req, res) => {
      res.json(body(req.auth));
    });
    const { createServer } = await import("node:http");
    return listen(createServer(app));
  },
  fastify: async (dpop) => {
    const app = Fastify();
    await app.register(m2mAuth, { verifier: verifierFor(dpop), global: true, publicUrl: "host-header" });
    app.get("/data", async (request) => body(request.auth));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (dpop) => {
    const app = new Hono();
    app.use("/data", honoAuth(verifierFor(dpop), { publicUrl: "host-header" }));
    app.get("/data", (c) => c.json(body(c.get("auth"))));
    return serveFetch((request) => app.fetch(request));
  },
  web: async (dpop) =>
    serveFetch(
      withAuth((_request, auth) => Response.json(body(auth)), verifierFor(dpop), {
        publicUrl: "host-header",
      }),
    ),
};

/** A raw request over node:http, so that a header can be sent twice. */
function send(url: string, headers: Record<string, string | string[]>, method = "GET") {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    json: unknown;
  }>((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: text ? JSON.parse(text) : undefined,
        });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

let privateJwk: JWK;
let key: DpopKey;
let client: ClientCredentialsClient;
let token: AccessToken;

beforeAll(async () => {
  provider = await startProvider();
  const pair = await generateKeyPair("ES256", { extractable: true });
  privateJwk = await exportJWK(pair.privateKey);
  key = await importDpopKey(privateJwk);
  client = new ClientCredentialsClient({
    issuer: provider.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
    dpop: { privateKey: privateJwk },
  });
  token = await client.getToken();
});
afterAll(async () => {
  await provider?.close();
});

describe.each(Object.keys(factories))("DPoP on %s", (name) => {
  let server: Server;
  let nonced: Server;
  let required: Server;
  let small: Server;
  beforeAll(async () => {
    const factory = factories[name]!;
    [server, nonced, required, small] = await Promise.all([
      factory({}),
      factory({ nonce: createDpopNonce() }),
      factory({ required: true }),
      factory({ replayStore: createMemoryReplayStore({ maxEntries: 2 }) }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server, nonced, required, small].map((s) => s?.close()));
  });

  it("accepts the client's DPoP calls (Authorization: DPoP, a fresh proof with ath each time)", async () => {
    for (let i = 0; i < 3; i++) {
      const response = await client.fetch(`${server.url}/data?i=${i}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ client: "basic-client" });
    }
  });

  it("answers a nonce challenge once: 401 use_dpop_nonce with DPoP-Nonce, then 200; 1 request afterwards", async () => {
    const seen: number[] = [];
    const counting = new ClientCredentialsClient({
      issuer: provider.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      defaultAudience: API,
      dpop: { privateKey: privateJwk },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).startsWith(nonced.url)) seen.push(response.status);
        return response;
      },
    });
    const first = await counting.fetch(`${nonced.url}/data`);
    expect(first.status).toBe(200);
    expect(seen).toEqual([401, 200]);
    const second = await counting.fetch(`${nonced.url}/data`);
    expect(second.status).toBe(200);
    expect(seen).toEqual([401, 200, 200]);
    const raw = await send(`${nonced.url}/data`, {
      authorization: `DPoP ${token.accessToken}`,
      dpop: await createDpopProof(key, {
        method: "GET",
        url: `${nonced.url}/data`,
        accessToken: token.accessToken,
      }),
    });
    expect(raw.status).toBe(401);
    expect(raw.headers["www-authenticate"]).toMatch(
      /^DPoP error="use_dpop_nonce", error_description="[^"]+", algs="ES256 /,
    );
    expect(raw.headers["dpop-nonce"]).toMatch(/^[\w-]{40,}$/);
  });

  describe("the attack table: each refused with the RFC's status and challenge", () => {
    const url = () => `${server.url}/data`;
    const claims = async (overrides: Record<string, unknown> = {}) => ({
      jti: crypto.randomUUID(),
      htm: "GET",
      htu: url(),
      iat: Math.floor(Date.now() / 1000),
      ath: await accessTokenHash(token.accessToken),
      ...overrides,
    });
    const sign = async (
      payload: Record<string, unknown>,
      header: Record<string, unknown> = {},
      signer = key,
    ) =>
      new SignJWT(payload)
        .setProtectedHeader({
          alg: signer.alg,
          typ: "dpop+jwt",
          jwk: signer.publicJwk as JWK,
          ...header,
        } as never)
        .sign(signer.privateKey);
    const unsigned = (header: object, payload: object) =>
      `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;

    const attacks: Array<[string, () => Promise<Record<string, string | string[]>>, number, string]> = [
      [
        "replayed proof",
        async () => {
          const proof = await sign(await claims());
          const first = await send(url(), { authorization: `DPoP ${token.accessToken}`, dpop: proof });
          expect(first.status).toBe(200);
          return { authorization: `DPoP ${token.accessToken}`, dpop: proof };
        },
        401,
        "invalid_dpop_proof",
      ],
      [
        "wrong htm",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims({ htm: "POST" })),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "wrong htu",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims({ htu: `${server.url}/other` })),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "stale iat",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims({ iat: Math.floor(Date.now() / 1000) - 120 })),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "future iat",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims({ iat: Math.floor(Date.now() / 1000) + 120 })),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "wrong ath",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims({ ath: await accessTokenHash("another-token") })),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "proof by another key",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims(), {}, await generateDpopKey()),
        }),
        401,
        "invalid_token",
      ],
      [
        "alg: none",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: unsigned({ alg: "none", typ: "dpop+jwt", jwk: key.publicJwk }, await claims()),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "HS256",
        async () => {
          const proof = await new SignJWT(await claims())
            .setProtectedHeader({
              alg: "HS256",
              typ: "dpop+jwt",
              jwk: { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0" },
            } as never)
            .sign(new TextEncoder().encode("secret-secret-secret-secret"));
          return { authorization: `DPoP ${token.accessToken}`, dpop: proof };
        },
        401,
        "invalid_dpop_proof",
      ],
      [
        "private key in jwk",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims(), { jwk: privateJwk }),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "wrong typ",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: await sign(await claims(), { typ: "JWT" }),
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "two DPoP headers",
        async () => ({
          authorization: `DPoP ${token.accessToken}`,
          dpop: [await sign(await claims()), await sign(await claims())],
        }),
        401,
        "invalid_dpop_proof",
      ],
      [
        "bound token as Bearer",
        async () => ({ authorization: `Bearer ${token.accessToken}` }),
        401,
        "invalid_token",
      ],
    ];

    it.each(attacks)("%s", async (_name, build, status, error) => {
      const response = await send(url(), await build());
      expect(response.status).toBe(status);
      const challenge = String(response.headers["www-authenticate"]);
      expect(challenge).toContain(`error="${error}"`);
      expect(challenge).toMatch(
        /DPoP [\s\S]*algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 Ed25519 EdDSA"/,
      );
      expect(response.json).toMatchObject({ error });
      expect(JSON.stringify(response)).not.toContain(token.accessToken);
    });
  });

  it("no credentials: Bearer and DPoP challenges; required: true offers DPoP only and refuses a plain Bearer token", async () => {
    const none = await send(`${server.url}/data`, {});
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer, DPoP algs="/);
    const onlyDpop = await send(`${required.url}/data`, {});
    expect(onlyDpop.headers["www-authenticate"]).toMatch(/^DPoP algs="/);
    const bearer = await send(`${required.url}/data`, { authorization: "Bearer abc.def.ghi" });
    expect(bearer.status).toBe(401);
    expect(bearer.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_token"/);
    expect((await client.fetch(`${required.url}/data`)).status).toBe(200);
  });

  it("a full replay store refuses new proofs with 503 and Retry-After, and still refuses replays", async () => {
    const proofs = await Promise.all(
      [0, 1, 2].map(() =>
        createDpopProof(key, { method: "GET", url: `${small.url}/data`, accessToken: token.accessToken }),
      ),
    );
    const call = (proof: string) =>
      send(`${small.url}/data`, { authorization: `DPoP ${token.accessToken}`, dpop: proof });
    expect((await call(proofs[0]!)).status).toBe(200);
    expect((await call(proofs[1]!)).status).toBe(200);
    const full = await call(proofs[2]!);
    expect(full.status).toBe(503);
    expect(Number(full.headers["retry-after"])).toBeGreaterThan(0);
    expect((await call(proofs[0]!)).status).toBe(401);
  });
});
