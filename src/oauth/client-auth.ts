import { importJWK, importPKCS8, type JWK, SignJWT } from "jose";
import { JWT_BEARER_ASSERTION_TYPE } from "../workload/source.js";

/**
 * Client authentication methods at the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705), and
 * `none` (RFC 8414's name: `client_id` only), for a `grant` whose assertion is the credential.
 */
export type AuthMethod =
  | "client_secret_basic"
  | "client_secret_post"
  | "private_key_jwt"
  | "client_secret_jwt"
  | "tls_client_auth"
  | "self_signed_tls_client_auth"
  | "none";

export const AUTH_METHODS: readonly AuthMethod[] = [
  "client_secret_basic",
  "client_secret_post",
  "private_key_jwt",
  "client_secret_jwt",
  "tls_client_auth",
  "self_signed_tls_client_auth",
  "none",
];

/** RFC 8705 §2: the client authenticates with its TLS client certificate, not in the request. */
export function isMutualTlsMethod(method: AuthMethod | undefined): boolean {
  return method === "tls_client_auth" || method === "self_signed_tls_client_auth";
}

/** A private key for `private_key_jwt`: a private JWK, a PKCS#8 PEM string, or a `CryptoKey`. */
export type PrivateKeyInput = JWK | string | CryptoKey;

/** What client authentication knows of the request it authenticates. */
export interface ClientAuthenticationContext {
  tokenEndpoint: string;
  issuer: string | undefined;
  /** When the request is built, ms since the epoch. */
  now: number;
  /** The request's own signal (a source asked for an assertion stops with it). */
  signal?: AbortSignal | undefined;
}

/** Adds client authentication to one token request. Called once per attempt (fresh `jti`). */
export type ClientAuthentication = (
  body: URLSearchParams,
  headers: Headers,
  context: ClientAuthenticationContext,
) => Promise<void>;

/**
 * RFC 6749 §2.3.1: the client id and secret are form-url-encoded (Appendix B) before they are
 * joined with ":" and base64-encoded. Secrets with `+`, `/`, `=`, `:` or `%` depend on this.
 */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*~]|%20/g, (match) =>
    match === "%20" ? "+" : `%${match.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function base64(ascii: string): string {
  return btoa(ascii);
}

export function clientSecretBasic(clientId: string, secret: string): ClientAuthentication {
  const header = `Basic ${base64(`${formUrlEncode(clientId)}:${formUrlEncode(secret)}`)}`;
  return async (_body, headers) => {
    headers.set("authorization", header);
  };
}

export function clientSecretPost(clientId: string, secret: string): ClientAuthentication {
  return async (body) => {
    body.set("client_id", clientId);
    body.set("client_secret", secret);
  };
}

/**
 * RFC 8705 §2.1 and §2.2: the certificate is checked during the TLS handshake; the request only
 * names the client. Both methods look the same on the wire.
 */
export function tlsClientAuth(clientId: string): ClientAuthentication {
  return async (body) => {
    body.set("client_id", clientId);
  };
}

const ASSERTION_LIFETIME_SECONDS = 60;

/**
 * Where the `aud` of an assertion the client signs points: the issuer identifier (RFC 7523bis, the
 * default when `issuer` is configured), the token endpoint (RFC 7523's old form), or a fixed URL.
 */
export type AssertionAudience = "tokenEndpoint" | "issuer" | (string & {});

/** The `typ` header of client assertions the client signs (draft-ietf-oauth-rfc7523bis §4). */
export const CLIENT_ASSERTION_TYP = "client-authentication+jwt";

/** How the client writes the assertions it signs. */
export interface AssertionStyle {
  audience: AssertionAudience;
  /** `typ: client-authentication+jwt` (true) or `typ: JWT`, RFC 7523's old form (false). */
  typ: boolean;
}

function jwtAssertion(
  clientId: string,
  getKey: () => Promise<SigningKey>,
  style: AssertionStyle,
): ClientAuthentication {
  const typ = style.typ ? CLIENT_ASSERTION_TYP : "JWT";
  return async (body, _headers, context) => {
    const { key, alg, kid } = await getKey();
    const { audience } = style;
    // draft-ietf-oauth-rfc7523bis §5: one string, the issuer identifier; never a list.
    const aud =
      audience === "tokenEndpoint"
        ? context.tokenEndpoint
        : audience === "issuer"
          ? (context.issuer ?? context.tokenEndpoint)
          : audience;
    const iat = Math.floor(context.now / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader(kid ? { alg, kid, typ } : { alg, typ })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(aud)
      .setJti(crypto.randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    body.set("client_id", clientId);
    body.set("client_assertion_type", JWT_BEARER_ASSERTION_TYPE);
    body.set("client_assertion", assertion);
  };
}

/**
 * `private_key_jwt` with an assertion the client does not sign itself (RFC 7523 §2.2): a platform
 * token (Kubernetes, GitHub Actions, a cloud's workload identity) or a SPIFFE JWT-SVID, from `take`,
 * which reads the current one for this request.
 */
export function clientAssertion(
  clientId: string,
  take: (context: ClientAuthenticationContext) => Promise<{ value: string; type: string }>,
): ClientAuthentication {
  return async (body, _headers, context) => {
    const { value, type } = await take(context);
    body.set("client_id", clientId);
    body.set("client_assertion_type", type);
    body.set("client_assertion", value);
  };
}

/**
 * No client authentication (RFC 6749 §2.3 leaves it to the grant): the request names the client with
 * `client_id` only. For grants whose assertion is the credential (JWT bearer, token exchange).
 */
export function clientIdOnly(clientId: string): ClientAuthentication {
  return async (body) => {
    body.set("client_id", clientId);
  };
}

interface SigningKey {
  key: CryptoKey | Uint8Array;
  alg: string;
  kid: string | undefined;
}

export function clientSecretJwt(
  clientId: string,
  secret: string,
  style: AssertionStyle,
  alg = "HS256",
): ClientAuthentication {
  const key: SigningKey = { key: new TextEncoder().encode(secret), alg, kid: undefined };
  return jwtAssertion(clientId, async () => key, style);
}

export function privateKeyJwt(
  clientId: string,
  input: PrivateKeyInput,
  options: { alg?: string | undefined; kid?: string | undefined; style: AssertionStyle },
): ClientAuthentication {
  let loading: Promise<SigningKey> | undefined;
  const getKey = () => {
    loading ??= loadPrivateKey(input, options.alg, options.kid);
    // A failed import is not cached: the next request tries again and reports the same error.
    loading.catch(() => {
      loading = undefined;
    });
    return loading;
  };
  return jwtAssertion(clientId, getKey, options.style);
}

const PEM_ALGS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"];

async function loadPrivateKey(
  input: PrivateKeyInput,
  alg: string | undefined,
  kid: string | undefined,
): Promise<SigningKey> {
  if (typeof input === "string") {
    for (const candidate of alg ? [alg] : PEM_ALGS) {
      try {
        return { key: await importPKCS8(input, candidate), alg: candidate, kid };
      } catch {
        // try the next algorithm family
      }
    }
    throw new TypeError(
      alg
        ? `privateKey could not be imported for ${alg}`
        : "privateKey could not be imported as an RSA, EC (P-256/384/521) or Ed25519 PKCS#8 key",
    );
  }
  if (isCryptoKey(input)) {
    const inferred = alg ?? algFromCryptoKey(input);
    if (!inferred) throw new TypeError("privateKeyAlg is required for this CryptoKey");
    return { key: input, alg: inferred, kid };
  }
  const jwk = input as JWK;
  const inferred = alg ?? jwk.alg ?? algFromJwk(jwk);
  if (!inferred) throw new TypeError("privateKeyAlg is required for this JWK");
  const key = await importJWK(jwk, inferred);
  return { key, alg: inferred, kid: kid ?? jwk.kid };
}

export function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey !== "undefined" && value instanceof CryptoKey;
}

function algFromJwk(jwk: JWK): string | undefined {
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "EC") return { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" }[jwk.crv ?? ""];
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return undefined;
}

function algFromCryptoKey(key: CryptoKey): string | undefined {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.replace("SHA-", "");
  if (algorithm.name === "RSASSA-PKCS1-v1_5") return `RS${bits}`;
  if (algorithm.name === "RSA-PSS") return `PS${bits}`;
  if (algorithm.name === "ECDSA") {
    return { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" }[algorithm.namedCurve ?? ""];
  }
  if (algorithm.name === "Ed25519") return "EdDSA";
  return undefined;
}

/** Checks the shape of a `privateKey` option at construction; the import itself happens lazily. */
export function checkPrivateKey(input: unknown): void {
  if (typeof input === "string") {
    if (/-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(input)) {
      throw new TypeError(
        "privateKey is a PKCS#1/SEC1 PEM; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)",
      );
    }
    if (!input.includes("-----BEGIN PRIVATE KEY-----")) {
      throw new TypeError("privateKey must be a PKCS#8 PEM string, a private JWK or a CryptoKey");
    }
    return;
  }
  if (isCryptoKey(input)) {
    if (input.type === "secret") {
      throw new TypeError(
        "privateKey is a symmetric (secret) CryptoKey, not a private key; for client_secret_jwt pass the secret as clientSecret",
      );
    }
    if (input.type !== "private") throw new TypeError("privateKey must be a private CryptoKey");
    return;
  }
  if (typeof input === "object" && input !== null && typeof (input as JWK).kty === "string") {
    if ((input as JWK).kty === "oct") {
      throw new TypeError(
        "privateKey is a symmetric (oct) JWK, not a private key; for client_secret_jwt pass the secret as clientSecret",
      );
    }
    if (typeof (input as JWK).d !== "string") {
      throw new TypeError("privateKey is a public JWK; the private key (with `d`) is needed");
    }
    return;
  }
  throw new TypeError("privateKey must be a PKCS#8 PEM string, a private JWK or a CryptoKey");
}
