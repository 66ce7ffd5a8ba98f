import { importJWK, importPKCS8, type JWK, SignJWT } from "jose";

/** Client authentication methods at the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705). */
export type AuthMethod =
  | "client_secret_basic"
  | "client_secret_post"
  | "private_key_jwt"
  | "client_secret_jwt"
  | "tls_client_auth"
  | "self_signed_tls_client_auth";

export const AUTH_METHODS: readonly AuthMethod[] = [
  "client_secret_basic",
  "client_secret_post",
  "private_key_jwt",
  "client_secret_jwt",
  "tls_client_auth",
  "self_signed_tls_client_auth",
];

/** RFC 8705 §2: the client authenticates with its TLS client certificate, not in the request. */
export function isMutualTlsMethod(method: AuthMethod | undefined): boolean {
  return method === "tls_client_auth" || method === "self_signed_tls_client_auth";
}

/** A private key for `private_key_jwt`: a private JWK, a PKCS#8 PEM string, or a `CryptoKey`. */
export type PrivateKeyInput = JWK | string | CryptoKey;

/** Adds client authentication to one token request. Called once per attempt (fresh `jti`). */
export type ClientAuthentication = (
  body: URLSearchParams,
  headers: Headers,
  context: { tokenEndpoint: string; issuer: string | undefined; now: number },
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

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ASSERTION_LIFETIME_SECONDS = 60;

/** Where the assertion's `aud` points: the token endpoint, the issuer, or a fixed URL. */
export type AssertionAudience = "tokenEndpoint" | "issuer" | (string & {});

function jwtAssertion(
  clientId: string,
  getKey: () => Promise<SigningKey>,
  audience: AssertionAudience,
): ClientAuthentication {
  return async (body, _headers, context) => {
    const { key, alg, kid } = await getKey();
    const aud =
      audience === "tokenEndpoint"
        ? context.tokenEndpoint
        : audience === "issuer"
          ? (context.issuer ?? context.tokenEndpoint)
          : audience;
    const iat = Math.floor(context.now / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader(kid ? { alg, kid, typ: "JWT" } : { alg, typ: "JWT" })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(aud)
      .setJti(crypto.randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    body.set("client_id", clientId);
    body.set("client_assertion_type", ASSERTION_TYPE);
    body.set("client_assertion", assertion);
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
  audience: AssertionAudience,
  alg = "HS256",
): ClientAuthentication {
  const key: SigningKey = { key: new TextEncoder().encode(secret), alg, kid: undefined };
  return jwtAssertion(clientId, async () => key, audience);
}

export function privateKeyJwt(
  clientId: string,
  input: PrivateKeyInput,
  options: { alg?: string | undefined; kid?: string | undefined; audience: AssertionAudience },
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
  return jwtAssertion(clientId, getKey, options.audience);
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
