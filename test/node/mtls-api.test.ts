/**
 * Certificate-bound access tokens at the API (RFC 8705 §3): HTTPS Express and Fastify APIs that ask
 * for client certificates read them from the TLS socket; behind a TLS-terminating proxy (and in the
 * fetch-API adapter) they read the header named by `clientCertificateHeader`, and only then.
 * Tokens come from oidc-provider with `certificateBoundAccessTokens` over its mTLS alias endpoint.
 */
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import {
  ClientCredentialsClient,
  createDpopProof,
  createVerifier,
  generateDpopKey,
  parseClientCertificateHeader,
  type Verifier,
} from "../../src/index.js";
import { createNodeFetch, type NodeFetch } from "../../src/node/index.js";
import { withAuth } from "../../src/web/index.js";
import { createTestPki, type TestCert, type TestPki } from "../support/certs.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { ODD_SECRET, type RunningProvider, startMtlsProvider } from "../support/oidc.js";

const API = "https://api.example.com";
const HEADER = "client-cert";
type Server = { url: string; close: () => Promise<void> };

let pki: TestPki;
let as: RunningProvider;
let verifier: Verifier;
let boundToken: string;
let unboundToken: string;
const transports: NodeFetch[] = [];
const servers: Server[] = [];

function transport(cert?: TestCert): NodeFetch {
  const made = createNodeFetch({
    proxy: false,
    ca: pki.ca.cert,
    ...(cert && { cert: cert.cert, key: cert.key }),
  });
  transports.push(made);
  return made;
}

/** RFC 9440 `Client-Cert`: the DER certificate as a structured-field byte sequence. */
const rfc9440 = (cert: TestCert) => `:${cert.der.toString("base64")}:`;
/** nginx `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`: the PEM, URL-encoded. */
const escapedPem = (cert: TestCert) => encodeURIComponent(cert.cert);
/** HAProxy `%[ssl_c_der,base64]`: the DER certificate in base64, no colons. */
const haproxy = (cert: TestCert) => cert.der.toString("base64");
const PRESENTED_NONE =
  "the access token is bound to a client certificate (RFC 8705) and the request presented none";
const UNREADABLE =
  "the client certificate header is unreadable: not one certificate as an RFC 9440 byte sequence, base64 DER or URL-encoded PEM";
/** Header values a proxy might send that are not one certificate: each is refused as unreadable. */
const unreadableValues = () => {
  const base64 = haproxy(pki.client);
  const truncated = base64.slice(0, Math.floor(base64.length / 8) * 4); // valid base64, half a certificate
  return {
    garbage: "garbage",
    "RFC 9440 with garbage": ":not base64 at all:",
    "truncated base64": truncated,
    "truncated RFC 9440": `:${truncated}:`,
    "URL-encoded PEM of a private key": encodeURIComponent(pki.client.key),
    "a private key labelled CERTIFICATE": encodeURIComponent(
      pki.client.key.replace(/PRIVATE KEY/g, "CERTIFICATE"),
    ),
    "a chain": encodeURIComponent(`${pki.client.cert}${pki.ca.cert}`),
    "two joined values": `${rfc9440(pki.client)}, ${rfc9440(pki.otherClient)}`,
    "bad URL encoding": "%E0%A4%A",
  };
};

beforeAll(async () => {
  pki = await createTestPki();
  as = await startMtlsProvider(pki, [
    {
      client_id: "plain-job",
      client_secret: ODD_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
    },
  ]);
  const bound = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "orders-job",
    authMethod: "tls_client_auth",
    fetch: transport(pki.client),
  });
  boundToken = (await bound.getToken({ audience: API })).accessToken;
  expect(decodeJwt(boundToken).cnf).toEqual({ "x5t#S256": pki.client.thumbprint });
  const plain = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "plain-job",
    clientSecret: ODD_SECRET,
    fetch: transport(),
  });
  unboundToken = (await plain.getToken({ audience: API })).accessToken;
  expect(decodeJwt(unboundToken).cnf).toBeUndefined();
  verifier = createVerifier({ issuer: as.issuer, audience: API, fetch: transport() });
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(transports.map((made) => made.close()));
  await as.close();
});

/** TLS options of an API that asks for a client certificate and lets the app decide (RFC 8705 §3). */
const tlsOptions = () => ({
  cert: pki.server.cert,
  key: pki.server.key,
  requestCert: true,
  rejectUnauthorized: false,
});

async function expressApi(
  options: Parameters<typeof requireAuth>[1] = {},
  https = true,
  apiVerifier: Verifier = verifier,
): Promise<Server> {
  const app = express();
  app.get("/data", requireAuth(apiVerifier, options), (req, res) => {
    res.json({ client: req.auth?.clientId });
  });
  const server = https ? createHttpsServer(tlsOptions(), app) : (await import("node:http")).createServer(app);
  const { url, close } = await listen(server as never);
  const running = { url: https ? url.replace("http:", "https:") : url, close };
  servers.push(running);
  return running;
}

async function fastifyApi(
  options: Record<string, unknown> = {},
  https = true,
  apiVerifier: Verifier = verifier,
): Promise<Server> {
  const app: FastifyInstance = (https ? Fastify({ https: tlsOptions() }) : Fastify()) as FastifyInstance;
  await app.register(m2mAuth, { verifier: apiVerifier, ...options });
  app.get("/data", { config: { scopes: [] } }, async (request) => ({ client: request.auth?.clientId }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  const running = { url: `${https ? "https" : "http"}://127.0.0.1:${port}`, close: () => app.close() };
  servers.push(running);
  return running;
}

async function call(
  server: Server,
  token: string,
  options: { cert?: TestCert; headers?: Record<string, string> } = {},
) {
  const response = await transport(options.cert)(`${server.url}/data`, {
    headers: { authorization: `Bearer ${token}`, ...options.headers },
  });
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate"),
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe.each([
  ["Express", expressApi],
  ["Fastify", fastifyApi],
])("%s over HTTPS, certificate from the TLS socket", (_name, start) => {
  let api: Server;
  let strict: Server;
  beforeAll(async () => {
    api = await start();
    strict = await start({ requireCertificateBoundTokens: true });
  });

  it("a bound token with the same certificate → 200", async () => {
    const result = await call(api, boundToken, { cert: pki.client });
    expect(result).toMatchObject({ status: 200, body: { client: "orders-job" } });
  });

  it("a bound token with another certificate → 401 invalid_token", async () => {
    for (const cert of [pki.otherClient, pki.strangerClient, pki.selfSigned]) {
      const result = await call(api, boundToken, { cert });
      expect(result.status).toBe(401);
      expect(result.challenge).toContain('error="invalid_token"');
      expect(result.body).toEqual({
        error: "invalid_token",
        error_description:
          "the access token is bound to another client certificate than the one of the request (RFC 8705)",
      });
    }
  });

  it("a bound token without a certificate → 401 invalid_token", async () => {
    const result = await call(api, boundToken);
    expect(result.status).toBe(401);
    expect(result.body.error_description).toBe(
      "the access token is bound to a client certificate (RFC 8705) and the request presented none",
    );
  });

  it("a forged certificate header is ignored when clientCertificateHeader is not set", async () => {
    for (const forged of [rfc9440(pki.client), escapedPem(pki.client)]) {
      const result = await call(api, boundToken, {
        headers: { [HEADER]: forged, "x-amzn-mtls-clientcert": forged },
      });
      expect(result.status).toBe(401);
      expect(result.challenge).toContain('error="invalid_token"');
    }
  });

  it("an unbound token is accepted, unless bound tokens are required", async () => {
    expect((await call(api, unboundToken)).status).toBe(200);
    const refused = await call(strict, unboundToken, { cert: pki.client });
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toBe(
      "the access token is not bound to a client certificate (RFC 8705)",
    );
    expect((await call(strict, boundToken, { cert: pki.client })).status).toBe(200);
  });
});

describe.each([
  ["Express", (options: Record<string, unknown>) => expressApi(options, false)],
  ["Fastify", (options: Record<string, unknown>) => fastifyApi(options, false)],
  [
    "fetch-API (m2m-kit/web)",
    async (options: Record<string, unknown>) => {
      const server = await serveFetch(
        withAuth((_request, auth) => Response.json({ client: auth.clientId }), verifier, options),
      );
      servers.push(server);
      return server;
    },
  ],
])("%s behind a TLS-terminating proxy, certificate from the configured header", (_name, start) => {
  let api: Server;
  let unconfigured: Server;
  beforeAll(async () => {
    api = await start({ clientCertificateHeader: HEADER });
    unconfigured = await start({});
  });

  it("RFC 9440 Client-Cert and URL-encoded PEM of the bound certificate → 200", async () => {
    for (const value of [rfc9440(pki.client), escapedPem(pki.client)]) {
      const result = await call(api, boundToken, { headers: { [HEADER]: value } });
      expect(result).toMatchObject({ status: 200, body: { client: "orders-job" } });
    }
  });

  it("another certificate, no header or garbage → 401 invalid_token", async () => {
    const cases: Record<string, string>[] = [
      { [HEADER]: rfc9440(pki.otherClient) },
      { [HEADER]: escapedPem(pki.strangerClient) },
      {},
      { [HEADER]: ":not base64 at all:" },
      { [HEADER]: `${rfc9440(pki.client)}, ${rfc9440(pki.otherClient)}` },
    ];
    for (const headers of cases) {
      const result = await call(api, boundToken, { headers });
      expect(result.status).toBe(401);
      expect(result.challenge).toContain('error="invalid_token"');
    }
  });

  it("without the option the header is never read", async () => {
    const result = await call(unconfigured, boundToken, { headers: { [HEADER]: rfc9440(pki.client) } });
    expect(result.status).toBe(401);
    expect((await call(unconfigured, unboundToken, { headers: { [HEADER]: "garbage" } })).status).toBe(200);
  });

  it("HAProxy's base64 DER without colons (%[ssl_c_der,base64]) of the bound certificate → 200", async () => {
    const result = await call(api, boundToken, { headers: { [HEADER]: haproxy(pki.client) } });
    expect(result).toMatchObject({ status: 200, body: { client: "orders-job" } });
    const other = await call(api, boundToken, { headers: { [HEADER]: haproxy(pki.otherClient) } });
    expect(other.status).toBe(401);
    expect(other.body.error_description).toMatch(/bound to another client certificate/);
  });

  it("no header, or the empty value HAProxy and nginx send without a certificate → presented none", async () => {
    for (const headers of [{}, { [HEADER]: "" }] as Record<string, string>[]) {
      const result = await call(api, boundToken, { headers });
      expect(result.status).toBe(401);
      expect(result.body.error_description).toBe(PRESENTED_NONE);
    }
  });

  it("a value that is not one certificate → 401 unreadable, code ERR_CERTIFICATE_HEADER, not presented none", async () => {
    const events: Array<{ type: string; code?: string }> = [];
    const watched = await start({ clientCertificateHeader: HEADER, onEvent: (e: never) => events.push(e) });
    for (const [name, value] of Object.entries(unreadableValues())) {
      events.length = 0;
      const result = await call(watched, boundToken, { headers: { [HEADER]: value } });
      expect(result.status, name).toBe(401);
      expect(result.challenge, name).toContain('error="invalid_token"');
      expect(result.body, name).toEqual({ error: "invalid_token", error_description: UNREADABLE });
      expect(
        events.filter((e) => e.type === "request_refused"),
        name,
      ).toEqual([
        expect.objectContaining({ status: 401, error: "invalid_token", code: "ERR_CERTIFICATE_HEADER" }),
      ]);
    }
    // Read only for a token that needs it: an unbound token does not depend on the header.
    expect((await call(watched, unboundToken, { headers: { [HEADER]: "garbage" } })).status).toBe(200);
  });
});

describe.each([
  ["Express", expressApi],
  ["Fastify", fastifyApi],
])("%s over HTTPS, a token bound to a DPoP key and a certificate, sent with the DPoP scheme", (_n, start) => {
  // oidc-provider issues one binding or the other, so the token comes from a local issuer.
  let issuer: KeyServer;
  let api: Server;
  let token: string;
  let dpopKey: Awaited<ReturnType<typeof generateDpopKey>>;
  beforeAll(async () => {
    issuer = await startKeyServer({ audience: API, algs: ["ES256"] });
    dpopKey = await generateDpopKey();
    token = await issuer.sign({
      client_id: "orders-job",
      cnf: { jkt: dpopKey.thumbprint, "x5t#S256": pki.client.thumbprint },
    });
    const dpopVerifier = createVerifier({ issuer: issuer.issuer, audience: API, dpop: {} });
    api = await start({ publicUrl: "host-header" }, true, dpopVerifier);
  });
  afterAll(async () => {
    await issuer.close();
  });

  const callDpop = async (cert?: TestCert) => {
    const url = `${api.url}/data`;
    const proof = await createDpopProof(dpopKey, { method: "GET", url, accessToken: token });
    const response = await transport(cert)(url, {
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    });
    return {
      status: response.status,
      challenge: response.headers.get("www-authenticate") ?? "",
      body: (await response.json()) as Record<string, unknown>,
    };
  };

  it("the same certificate → 200", async () => {
    expect(await callDpop(pki.client)).toMatchObject({ status: 200, body: { client: "orders-job" } });
  });

  it("another certificate or none → 401 invalid_token, with a DPoP challenge", async () => {
    for (const cert of [pki.otherClient, undefined]) {
      const result = await callDpop(cert);
      expect(result.status).toBe(401);
      expect(result.challenge).toMatch(/^DPoP error="invalid_token"/);
      expect(result.body.error_description).toMatch(/RFC 8705/);
    }
  });
});

describe("options and header formats", () => {
  it("a bad clientCertificateHeader is a TypeError naming it", async () => {
    expect(() => requireAuth(verifier, { clientCertificateHeader: "client cert" })).toThrow(
      new TypeError("clientCertificateHeader must be a header name, such as client-cert"),
    );
    expect(() =>
      withAuth(() => new Response(), verifier, { requireCertificateBoundTokens: "yes" as never }),
    ).toThrow(new TypeError("requireCertificateBoundTokens must be a boolean"));
    const app = Fastify();
    await expect(app.register(m2mAuth, { verifier, clientCertificateHeader: "" })).rejects.toThrow(TypeError);
  });

  it("parses RFC 9440, base64 DER, URL-encoded PEM and PEM with spaces to the DER bytes", () => {
    const der = new Uint8Array(pki.client.der);
    expect(parseClientCertificateHeader(rfc9440(pki.client))).toEqual(der);
    expect(parseClientCertificateHeader(haproxy(pki.client))).toEqual(der);
    expect(parseClientCertificateHeader(encodeURIComponent(haproxy(pki.client)))).toEqual(der);
    expect(parseClientCertificateHeader(escapedPem(pki.client))).toEqual(der);
    expect(parseClientCertificateHeader(pki.client.cert.replace(/\n/g, " "))).toEqual(der);
    for (const none of ["", "  ", undefined, null])
      expect(parseClientCertificateHeader(none)).toBeUndefined();
    for (const [name, value] of Object.entries({ ...unreadableValues(), short: ":AAAA:" })) {
      expect(() => parseClientCertificateHeader(value), name).toThrow(
        expect.objectContaining({ name: "InvalidTokenError", code: "ERR_CERTIFICATE_HEADER" }),
      );
    }
  });
});
