import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors,
  exportJWK,
  type FetchImplementation,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from "jose";
import type { DevApp, DevFederatedCredential } from "./config.js";

/** RFC 7523 §2.2: a JWT as client authentication. */
export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** draft-ietf-oauth-spiffe-client-auth: a SPIFFE JWT-SVID as client authentication. */
export const JWT_SPIFFE_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/** Signature algorithms accepted on federated tokens (asymmetric only). */
const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];
const CLOCK_TOLERANCE_SECONDS = 5;
const FETCH_TIMEOUT_MS = 5000;
const OWN_KEY_ID = "m2m-dev-federation";

/** A federated token that failed a check. The message says which check, and never holds the token. */
export class FederationCheckError extends Error {}

/** A federated token that passed every check, and the credential it matched. */
export interface FederatedIdentity {
  claims: JWTPayload;
  credential: DevFederatedCredential;
}

/** How the token came: as a JWT-SVID (`jwt-spiffe`), its trust domain is its issuer. */
export interface FederatedCheck {
  /** What the token is in the request, for messages: `client_assertion`, `subject_token`, … */
  label: string;
  spiffe?: boolean;
}

/** Trust in the apps' federated issuers, and the dev server's own assertions for those apps. */
export interface Federation {
  /** The public key of the dev server's own assertions: in every federated app's `jwks`. */
  readonly publicJwk: JWK;
  /** Checks a token of another issuer against the app's federated credentials. */
  verify(app: DevApp, token: string, check: FederatedCheck): Promise<FederatedIdentity>;
  /** The issuer (or SPIFFE trust domain) a token names, read without verifying; undefined when none. */
  issuerOf(token: string, spiffe: boolean): string | undefined;
  /** A `private_key_jwt` assertion for the app, signed by the dev server, for oidc-provider. */
  clientAssertion(clientId: string): Promise<string>;
}

/** SPIFFE bundles mark JWT-SVID keys `use: "jwt-svid"` and hold X.509 roots too. */
const spiffeBundleFetch: FetchImplementation = async (url, options) => {
  const response = await fetch(url, options);
  if (!response.ok) return response;
  const body = (await response.json()) as { keys?: unknown };
  const keys = Array.isArray(body.keys)
    ? (body.keys as Array<Record<string, unknown>>)
        .filter((key) => key?.use !== "x509-svid")
        .map((key) => (key?.use === "jwt-svid" ? { ...key, use: "sig" } : key))
    : body.keys;
  return Response.json({ ...body, keys }, { status: response.status });
};

function trustDomainOf(spiffeId: unknown): string | undefined {
  return typeof spiffeId === "string" ? /^spiffe:\/\/[^/]+/.exec(spiffeId)?.[0] : undefined;
}

function describeAudience(aud: JWTPayload["aud"]): string {
  return aud === undefined ? "none" : JSON.stringify(aud);
}

/** Makes the federation of one dev server: `issuer` is its issuer identifier (the default audience). */
export async function createFederation(issuer: string): Promise<Federation> {
  const pair = await generateKeyPair("ES256");
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: OWN_KEY_ID, alg: "ES256", use: "sig" };
  /** Key sets by JWKS URL (or by issuer while discovery is pending); a failed lookup is retried. */
  const keySets = new Map<string, Promise<{ url: string; getKey: JWTVerifyGetKey }>>();

  async function discover(credentialIssuer: string): Promise<string> {
    const url = `${credentialIssuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`it answered ${response.status}`);
      document = (await response.json()) as typeof document;
    } catch (error) {
      throw new FederationCheckError(
        `the keys of issuer "${credentialIssuer}" could not be found: its discovery document ${url} could not be read (${(error as Error).message}); set jwksUri on the federated credential`,
      );
    }
    if (document.issuer !== credentialIssuer) {
      throw new FederationCheckError(
        `the discovery document of issuer "${credentialIssuer}" names the issuer ${JSON.stringify(document.issuer)}`,
      );
    }
    if (typeof document.jwks_uri !== "string" || !URL.canParse(document.jwks_uri)) {
      throw new FederationCheckError(
        `the discovery document of issuer "${credentialIssuer}" has no jwks_uri`,
      );
    }
    return document.jwks_uri;
  }

  function keySetFor(credential: DevFederatedCredential) {
    const cacheKey = credential.jwksUri ?? `discovery ${credential.issuer}`;
    let entry = keySets.get(cacheKey);
    if (!entry) {
      entry = (async () => {
        const url = credential.jwksUri ?? (await discover(credential.issuer));
        const spiffe = credential.issuer.startsWith("spiffe://");
        const getKey = createRemoteJWKSet(new URL(url), {
          timeoutDuration: FETCH_TIMEOUT_MS,
          ...(spiffe ? { [customFetch]: spiffeBundleFetch } : {}),
        });
        return { url, getKey };
      })();
      keySets.set(cacheKey, entry);
      entry.catch(() => keySets.delete(cacheKey));
    }
    return entry;
  }

  function issuerOf(token: string, spiffe: boolean): string | undefined {
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return undefined;
    }
    if (spiffe) return trustDomainOf(claims.sub);
    return typeof claims.iss === "string" ? claims.iss : undefined;
  }

  async function verify(app: DevApp, token: string, { label, spiffe = false }: FederatedCheck) {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new FederationCheckError(`the ${label} is not a JWT`);
    }
    const tokenIssuer = spiffe ? trustDomainOf(unverified.sub) : unverified.iss;
    if (typeof tokenIssuer !== "string") {
      throw new FederationCheckError(
        spiffe ? `the ${label} is not a JWT-SVID: its sub is not a SPIFFE ID` : `the ${label} has no iss`,
      );
    }
    const credentials = app.federated ?? [];
    const candidates = credentials.filter((credential) => credential.issuer === tokenIssuer);
    if (candidates.length === 0) {
      const trimmed = tokenIssuer.replace(/\/+$/, "");
      const near = credentials.find((credential) => credential.issuer.replace(/\/+$/, "") === trimmed);
      throw new FederationCheckError(
        `unknown issuer: the ${label}'s ${spiffe ? "trust domain" : "issuer"} "${tokenIssuer}" is not a federated issuer of the app "${app.clientId}"${near ? ` (a credential names "${near.issuer}", which differs only by a trailing slash)` : ""}`,
      );
    }
    const { url, getKey } = await keySetFor(candidates[0] as DevFederatedCredential);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, getKey, {
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw new FederationCheckError(failureOf(error, label, tokenIssuer, url));
    }
    const matching = candidates.filter((credential) => credential.subject === claims.sub);
    if (matching.length === 0) {
      throw new FederationCheckError(
        `wrong subject: the ${label}'s subject "${claims.sub}" matches no federated credential of the app "${app.clientId}" for issuer "${tokenIssuer}" (expected ${candidates.map((c) => `"${c.subject}"`).join(" or ")})`,
      );
    }
    const audiences = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const credential = matching.find((c) => audiences.includes(c.audience ?? issuer));
    if (!credential) {
      const expected = (matching[0] as DevFederatedCredential).audience ?? issuer;
      const hint =
        expected === issuer && audiences.includes(`${issuer}/token`)
          ? "; the default audience is the issuer identifier, not the token endpoint"
          : "";
      throw new FederationCheckError(
        `wrong audience: the ${label}'s audience ${describeAudience(claims.aud)} does not hold "${expected}"${hint}`,
      );
    }
    return { claims, credential };
  }

  return {
    publicJwk,
    verify,
    issuerOf,
    async clientAssertion(clientId) {
      return new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: OWN_KEY_ID, typ: "JWT" })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(issuer)
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime("60s")
        .sign(pair.privateKey);
    },
  };
}

/** Which check a federated token failed, from jose's error. */
function failureOf(error: unknown, label: string, tokenIssuer: string, jwksUri: string): string {
  if (error instanceof errors.JWTExpired) {
    const exp = Number(error.payload.exp);
    return `expired: the ${label} expired at ${Number.isFinite(exp) ? new Date(exp * 1000).toISOString() : "its exp"}`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return `the ${label} has no ${error.claim}`;
    if (error.claim === "nbf") return `the ${label} is not valid yet (nbf)`;
    return `the ${label}'s ${error.claim} is invalid (${error.reason})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return `wrong key: no key of issuer "${tokenIssuer}" (${jwksUri}) matches the ${label}'s kid and alg`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return `wrong key: the ${label}'s signature does not verify with the keys of issuer "${tokenIssuer}" (${jwksUri})`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return `the ${label}'s alg is not accepted (asymmetric algorithms only: ${ALGORITHMS.join(", ")})`;
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return `the ${label} is not a valid JWT`;
  }
  const reason =
    error instanceof errors.JWKSTimeout ? "timed out" : ((error as Error)?.message ?? String(error));
  return `the keys of issuer "${tokenIssuer}" could not be fetched from ${jwksUri} (${reason})`;
}
