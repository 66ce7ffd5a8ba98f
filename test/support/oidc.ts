/**
 * A real oidc-provider (v9) on 127.0.0.1 with the client credentials grant and resource indicators
 * (RFC 8707): each API is a resource with its own scopes, audience, TTL and JWT access tokens.
 * The `audience` parameter (Auth0/Kinde style) is accepted too and maps to the resource.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { type ClientMetadata, errors } from "oidc-provider";
import { introspectionPolicy, memoryAdapter, requestWithBody, revocationPolicy } from "./oidc-host.js";

export interface TestApi {
  identifier: string;
  scopes: string[];
  /** Token lifetime; read on every token request, so a test may change it between requests. */
  ttlSeconds?: number;
  /** "opaque" for reference tokens (introspection tests). Default "jwt". */
  format?: "jwt" | "opaque";
}

export interface TestClient {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: string;
  jwks?: { keys: JWK[] };
  token_endpoint_auth_signing_alg?: string;
  scope?: string;
  /** RFC 8705 client metadata (with `mtls`). */
  tls_client_auth_subject_dn?: string;
  tls_client_auth_san_dns?: string;
  tls_client_certificate_bound_access_tokens?: boolean;
}

export interface StartOptions {
  apis?: TestApi[];
  clients?: TestClient[];
  /** Default access-token TTL in seconds. */
  ttlSeconds?: number;
  /**
   * oidc-provider's DPoP feature (features.dPoP, RFC 9449). Always on with a nonce secret, so the
   * provider hands out `DPoP-Nonce`; `requireNonce: true` makes every proof need one.
   */
  dpop?: { requireNonce?: boolean; algorithms?: string[] };
  /** Serve over HTTPS with this certificate (the issuer becomes `https://127.0.0.1:port`). */
  https?: { cert: string; key: string };
  /**
   * RFC 8705: oidc-provider's mTLS features (certificate-bound tokens, `tls_client_auth`,
   * `self_signed_tls_client_auth`) and a second HTTPS listener that asks for client certificates,
   * listed as `mtls_endpoint_aliases.token_endpoint`. `ca` verifies `tls_client_auth` certificates.
   * Needs `https`. The issuer's own listener asks for no certificate.
   */
  mtls?: { ca: string };
  /**
   * Listen on this port instead of a free one: a provider started again on the port of one that was
   * closed keeps its issuer and token endpoint (a restart, e.g. with a client's secret rotated).
   */
  port?: number;
  /**
   * oidc-provider's `assertJwtClientAuthClaimsAndHeader` hook: called with the claims and header of
   * every client assertion the server accepted the signature of; throwing refuses it (invalid_client).
   */
  assertClientAssertion?: (claims: Record<string, unknown>, header: Record<string, unknown>) => void;
}

export interface TokenRequestRecord {
  params: URLSearchParams;
  authorization: string | undefined;
  /** W3C trace context the request carried. */
  traceparent: string | undefined;
  /** The `DPoP` header of the request. */
  dpop: string | undefined;
}

export interface RunningProvider {
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  provider: Provider;
  /** Number of POSTs to the token endpoint so far. */
  readonly tokenRequests: number;
  /** Number of POSTs to the introspection endpoint so far. */
  readonly introspectionRequests: number;
  /** Form parameters and `Authorization` header of every token request, in order. */
  readonly requests: TokenRequestRecord[];
  resetCount(): void;
  /** TCP connections accepted (both listeners). */
  readonly connections: number;
  /** With `mtls`: the alias token endpoint on the listener that asks for client certificates. */
  mtlsTokenEndpoint?: string;
  /** Public signing keys (JWKS) of the provider. */
  jwks: { keys: JWK[] };
  close(): Promise<void>;
}

/** A secret with every character that breaks naive Basic encoding (RFC 6749 §2.3.1). */
export const ODD_SECRET = "s3cr+t/with=odd:chars%&";
export const LONG_SECRET = "a-client-secret-long-enough-for-hs256-0123456789abcdef";

export const DEFAULT_APIS: TestApi[] = [
  { identifier: "https://api.example.com", scopes: ["read:data", "write:data"] },
  { identifier: "https://billing.example.com", scopes: ["read:invoices"] },
];

export interface ClientKeys {
  rsa: { privateJwk: JWK; publicJwk: JWK; privateKey: CryptoKey };
  ec: { privateJwk: JWK; publicJwk: JWK; privateKey: CryptoKey };
}

/** Key pairs for private_key_jwt clients. */
export async function generateClientKeys(): Promise<ClientKeys> {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const pair = async (p: CryptoKeyPair, kid: string, alg: string) => ({
    privateJwk: { ...(await exportJWK(p.privateKey)), kid, alg },
    publicJwk: { ...(await exportJWK(p.publicKey)), kid, alg, use: "sig" },
    privateKey: p.privateKey,
  });
  return { rsa: await pair(rsa, "rsa-1", "RS256"), ec: await pair(ec, "ec-1", "ES256") };
}

/** The usual set: one client per authentication method. */
export function defaultClients(keys: ClientKeys): TestClient[] {
  return [
    {
      client_id: "basic-client",
      client_secret: ODD_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
    },
    { client_id: "post-client", client_secret: ODD_SECRET, token_endpoint_auth_method: "client_secret_post" },
    { client_id: "hs-client", client_secret: LONG_SECRET, token_endpoint_auth_method: "client_secret_jwt" },
    {
      client_id: "rsa-client",
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_signing_alg: "RS256",
      jwks: { keys: [keys.rsa.publicJwk] },
    },
    {
      client_id: "ec-client",
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_signing_alg: "ES256",
      jwks: { keys: [keys.ec.publicJwk] },
    },
  ];
}

export async function startProvider(options: StartOptions = {}): Promise<RunningProvider> {
  const apis = new Map((options.apis ?? DEFAULT_APIS).map((api) => [api.identifier, api]));
  const clients = options.clients ?? defaultClients(await generateClientKeys());
  const signing = await generateKeyPair("RS256", { extractable: true });
  const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: "as-key-1", alg: "RS256", use: "sig" };

  if (options.mtls && !options.https) throw new Error("mtls needs https");
  const server: Server = options.https ? createHttpsServer(options.https) : createServer();
  const servers: Server[] = [server];
  // The mTLS alias: asks for a client certificate, lets the provider decide what to do without one.
  const aliasServer = options.mtls
    ? createHttpsServer({
        ...options.https,
        ca: options.mtls.ca,
        requestCert: true,
        rejectUnauthorized: false,
      })
    : undefined;
  if (aliasServer) servers.push(aliasServer);
  let connections = 0;
  for (const listener of servers) {
    listener.on("connection", () => connections++);
    listener.listen(listener === server ? (options.port ?? 0) : 0, "127.0.0.1");
    await once(listener, "listening");
  }
  const { port } = server.address() as AddressInfo;
  const issuer = `${options.https ? "https" : "http"}://127.0.0.1:${port}`;
  const mtlsTokenEndpoint = aliasServer
    ? `https://127.0.0.1:${(aliasServer.address() as AddressInfo).port}/token`
    : undefined;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: clients.map((client) => ({
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      ...client,
    })) as ClientMetadata[],
    jwks: { keys: [signingJwk] },
    ...(options.assertClientAssertion && {
      assertJwtClientAuthClaimsAndHeader: async (_ctx, claims, header) => {
        options.assertClientAssertion?.(claims as Record<string, unknown>, header as Record<string, unknown>);
      },
    }),
    enabledJWA: {
      dPoPSigningAlgValues: (options.dpop?.algorithms ?? [
        "ES256",
        "ES384",
        "PS256",
        "RS256",
        "Ed25519",
        "EdDSA",
      ]) as never,
    },
    clientAuthMethods: [
      "client_secret_basic",
      "client_secret_post",
      "client_secret_jwt",
      "private_key_jwt",
      ...(options.mtls ? (["tls_client_auth", "self_signed_tls_client_auth"] as const) : []),
    ],
    ...(mtlsTokenEndpoint && { discovery: { mtls_endpoint_aliases: { token_endpoint: mtlsTokenEndpoint } } }),
    features: {
      ...(options.mtls && {
        mTLS: {
          enabled: true,
          certificateBoundAccessTokens: true,
          tlsClientAuth: true,
          selfSignedTlsClientAuth: true,
          getCertificate: (ctx) => (ctx.req.socket as TLSSocket).getPeerX509Certificate?.(),
          certificateAuthorized: (ctx) => (ctx.req.socket as TLSSocket).authorized,
          certificateSubjectMatches: (ctx, property, expected) => {
            const cert = (ctx.req.socket as TLSSocket).getPeerX509Certificate?.();
            if (!cert) return false;
            if (property === "tls_client_auth_san_dns") {
              return (cert.subjectAltName ?? "").split(", ").includes(`DNS:${expected}`);
            }
            if (property === "tls_client_auth_subject_dn") {
              const normalize = (parts: string[]) =>
                parts
                  .map((part) => part.trim())
                  .sort()
                  .join(",");
              return normalize(cert.subject.split("\n")) === normalize(expected.split(","));
            }
            return false;
          },
        },
      }),
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => options.dpop?.requireNonce === true,
      },
      introspection: { enabled: true, allowedPolicy: introspectionPolicy },
      revocation: { enabled: true, allowedPolicy: revocationPolicy },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, identifier) => {
          const api = apis.get(identifier);
          if (!api) throw new errors.InvalidTarget(`unknown resource ${identifier}`);
          return {
            scope: api.scopes.join(" "),
            audience: api.identifier,
            accessTokenTTL: api.ttlSeconds ?? options.ttlSeconds ?? 3600,
            accessTokenFormat: api.format ?? "jwt",
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? options.ttlSeconds ?? 3600,
    },
  });
  provider.on("server_error", (_ctx, error) => {
    console.error("oidc-provider server_error", error);
  });

  let tokenRequests = 0;
  let introspectionRequests = 0;
  const requests: TokenRequestRecord[] = [];
  const handler = provider.callback();
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "POST" && req.url === "/token/introspection") introspectionRequests++;
    if (req.method !== "POST" || req.url !== "/token") {
      handler(req, res);
      return;
    }
    tokenRequests++;
    // oidc-provider reads `audience` only at the authorization endpoint; like a thin gateway in
    // front of it, map the Auth0/Kinde-style `audience` to the RFC 8707 `resource`.
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    requests.push({
      params: new URLSearchParams(params),
      authorization: req.headers.authorization,
      traceparent: req.headers.traceparent as string | undefined,
      dpop: req.headers.dpop as string | undefined,
    });
    const audience = params.get("audience");
    if (audience !== null && !params.has("resource")) params.set("resource", audience);
    params.delete("audience");
    handler(requestWithBody(req, params.toString()), res);
  };
  for (const listener of servers) listener.on("request", onRequest);

  const { kid, alg, use, kty, n, e } = signingJwk as JWK;
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    provider,
    get tokenRequests() {
      return tokenRequests;
    },
    get introspectionRequests() {
      return introspectionRequests;
    },
    requests,
    resetCount() {
      tokenRequests = 0;
      requests.length = 0;
    },
    get connections() {
      return connections;
    },
    mtlsTokenEndpoint,
    jwks: { keys: [{ kid, alg, use, kty, n, e }] },
    close: async () => {
      await Promise.all(
        servers.map(
          (listener) =>
            new Promise<void>((resolve) => {
              listener.closeAllConnections();
              listener.close(() => resolve());
            }),
        ),
      );
    },
  };
}

/** The PEM strings `startMtlsProvider` needs from the test PKI (support/certs.ts). */
interface MtlsPki {
  ca: { cert: string };
  server: { cert: string; key: string };
  selfSigned: { publicJwk: unknown };
}

/**
 * oidc-provider over HTTPS with RFC 8705 on (see `mtls`), serving the server certificate of `pki`,
 * with the two certificate clients every mTLS test uses — `orders-job` (`tls_client_auth`, the SAN
 * DNS of `pki.client`) and `sensor-42` (`self_signed_tls_client_auth` with `pki.selfSigned`), both
 * with certificate-bound tokens — followed by `clients`.
 */
export function startMtlsProvider(pki: MtlsPki, clients: TestClient[] = []): Promise<RunningProvider> {
  return startProvider({
    https: { cert: pki.server.cert, key: pki.server.key },
    mtls: { ca: pki.ca.cert },
    clients: [
      {
        client_id: "orders-job",
        token_endpoint_auth_method: "tls_client_auth",
        tls_client_auth_san_dns: "orders-job.clients.example",
        tls_client_certificate_bound_access_tokens: true,
      },
      {
        client_id: "sensor-42",
        token_endpoint_auth_method: "self_signed_tls_client_auth",
        jwks: { keys: [pki.selfSigned.publicJwk as never] },
        tls_client_certificate_bound_access_tokens: true,
      },
      ...clients,
    ],
  });
}
