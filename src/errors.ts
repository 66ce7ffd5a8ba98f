/**
 * Every error m2m-kit throws on purpose is an {@link M2MError} with a stable string `code`.
 * Branch on `code`: it survives two copies of the package in one process, `instanceof` does not.
 *
 * No message ever contains a client secret, a client assertion or a token.
 */

/** Stable error codes. New codes may be added in minor versions. */
export type M2MErrorCode =
  | "ERR_OAUTH"
  | "ERR_TOKEN_REQUEST"
  | "ERR_DISCOVERY"
  | "ERR_CLIENT_CLOSED"
  | "ERR_CLIENT_ASSERTION"
  | InvalidTokenCode
  | "ERR_INSUFFICIENT_SCOPE"
  | "ERR_CLAIM_POLICY"
  | "ERR_VERIFIER_UNAVAILABLE"
  | DpopProofCode
  | "ERR_DPOP_NONCE"
  | "ERR_DPOP_REPLAY_STORE_FULL"
  | "ERR_MISSING_PEER_DEPENDENCY"
  | (string & {});

/** Base class of every m2m-kit error. */
export class M2MError extends Error {
  /** Stable, machine-readable code. */
  readonly code: M2MErrorCode;

  constructor(code: M2MErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Fields of an OAuth 2.0 error response (RFC 6749 §5.2). */
export interface OAuthErrorBody {
  /** The RFC 6749 §5.2 error code (`invalid_client`, `invalid_scope`, `unauthorized_client`, …). */
  error: string;
  /** Human-readable text from the server, when given. */
  error_description?: string;
  /** A URI of a page about the error, when given. */
  error_uri?: string;
  [extra: string]: unknown;
}

/**
 * The token endpoint answered with a valid OAuth 2.0 error body (RFC 6749 §5.2), such as
 * `invalid_client`, `invalid_scope` or `unauthorized_client`, whatever the HTTP status (some servers
 * send errors with 200).
 */
export class OAuthError extends M2MError {
  /** The `error` field, e.g. `invalid_client`. */
  readonly error: string;
  /** The `error_description` field, if any. */
  readonly errorDescription: string | undefined;
  /** The `error_uri` field, if any. */
  readonly errorUri: string | undefined;
  /** HTTP status of the response (200 when the server sent its error that way). */
  readonly status: number;
  /** Every field of the error body, including provider-specific ones. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
  /**
   * What to check, when the error has a usual cause on the client's side (`invalid_grant`,
   * `unsupported_grant_type`, `unauthorized_client`, `invalid_target`, `invalid_client` with a client
   * assertion, a token exchange's `invalid_request`); also at the end of the message. `undefined`
   * otherwise.
   */
  readonly hint: string | undefined;

  /**
   * @param hint - What to check (see {@link OAuthError.hint}); appended to the message.
   */
  constructor(body: OAuthErrorBody, status: number, retryAfterMs?: number, hint?: string) {
    const description = body.error_description ? `: ${body.error_description}` : "";
    const advice = hint ? ` (${hint})` : "";
    super("ERR_OAUTH", `token endpoint answered ${status} ${body.error}${description}${advice}`);
    this.error = body.error;
    this.errorDescription = body.error_description;
    this.errorUri = body.error_uri;
    this.status = status;
    this.body = Object.freeze({ ...body });
    this.retryAfterMs = retryAfterMs;
    this.hint = hint;
  }

  /** 5xx and 429 answers may succeed later; other OAuth errors will not. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/**
 * A token request failed without a valid OAuth error: network error, timeout, HTTP error without an
 * OAuth body, a response that is not JSON or is missing fields.
 */
export class TokenRequestError extends M2MError {
  /** HTTP status, when a response was received. */
  readonly status: number | undefined;
  /** Whether trying again later may succeed (network errors, timeouts, 5xx, 429). */
  readonly transient: boolean;
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { status?: number; transient: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super("ERR_TOKEN_REQUEST", message, { cause: options.cause });
    this.status = options.status;
    this.transient = options.transient;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Authorization server metadata could not be fetched or is not valid. */
export class DiscoveryError extends M2MError {
  /** Whether trying again later may succeed (network errors, timeouts, 5xx). */
  readonly transient: boolean;

  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super("ERR_DISCOVERY", message, { cause: options?.cause });
    this.transient = options?.transient ?? false;
  }
}

/** Which form parameter of a token request an assertion or token was for. */
export type AssertionParameter = "client_assertion" | "assertion" | "subject_token" | "actor_token";

/** Why an assertion could not be used. */
export type AssertionProblem = "expired" | "malformed" | "source_failed" | "refused";

/**
 * A client assertion (or a grant's assertion, subject or actor token) could not be used, and no token
 * request was sent: it has expired or expires within 10 s (a subject or actor token passed to
 * `exchangeToken`: has expired), is not a JWT where one is needed, or its source failed (a file that
 * cannot be read, GitHub's OIDC endpoint answering an error). The message names the source (a path, a
 * URL without its query) and never holds the assertion.
 */
export class ClientAssertionError extends M2MError {
  /** The token request parameter it was for: `client_assertion`, `assertion`, `subject_token`, `actor_token`. */
  readonly parameter: AssertionParameter;
  /** What is wrong: `expired` (or expiring within the margin), `malformed`, `source_failed`, `refused`. */
  readonly problem: AssertionProblem;
  /** The source, as it describes itself (`file /var/run/…`, a URL without its query); `undefined` for a value. */
  readonly source: string | undefined;
  /** Whether trying again later may succeed (a source that failed on the network or answered 5xx). */
  readonly transient: boolean;

  constructor(
    message: string,
    options: {
      parameter: AssertionParameter;
      problem: AssertionProblem;
      source?: string | undefined;
      transient?: boolean;
      cause?: unknown;
    },
  ) {
    super("ERR_CLIENT_ASSERTION", message, { cause: options.cause });
    this.parameter = options.parameter;
    this.problem = options.problem;
    this.source = options.source;
    this.transient = options.transient ?? false;
  }
}

/** The client was closed with `close()` and no longer requests tokens. */
export class ClientClosedError extends M2MError {
  constructor() {
    super("ERR_CLIENT_CLOSED", "the client has been closed");
  }
}

/** What failed in an {@link InvalidTokenError}. */
export type InvalidTokenCode =
  | "ERR_JWT_MALFORMED"
  | "ERR_JWT_TOO_LARGE"
  | "ERR_JWT_ALG_NOT_ALLOWED"
  | "ERR_JWT_SIGNATURE"
  | "ERR_JWKS_NO_MATCHING_KEY"
  | "ERR_JWT_EXPIRED"
  | "ERR_JWT_NOT_YET_VALID"
  | "ERR_JWT_IAT_IN_FUTURE"
  | "ERR_JWT_ISSUER"
  | "ERR_JWT_AUDIENCE"
  | "ERR_JWT_TYP"
  | "ERR_JWT_CRIT"
  | "ERR_JWT_CLAIM_MISSING"
  | "ERR_JWT_TOO_OLD"
  | "ERR_TOKEN_INACTIVE"
  | "ERR_DPOP_BINDING"
  | "ERR_DPOP_BOUND_AS_BEARER"
  | "ERR_CERTIFICATE_BINDING"
  | "ERR_CERTIFICATE_HEADER"
  | "ERR_TOKEN_NOT_CERTIFICATE_BOUND"
  | "ERR_CNF_UNSUPPORTED";

/** The access token is not valid: an API answers 401 `invalid_token` (RFC 6750 §3.1). */
export class InvalidTokenError extends M2MError {
  declare readonly code: InvalidTokenCode;
  /** HTTP status an API should answer. */
  readonly status = 401;

  constructor(code: InvalidTokenCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The token is valid but lacks scopes: an API answers 403 `insufficient_scope` (RFC 6750 §3.1). */
export class InsufficientScopeError extends M2MError {
  /** HTTP status an API should answer. */
  readonly status = 403;
  /** The scopes the call required (all of them, or one of them with `anyOf`). */
  readonly requiredScopes: readonly string[];
  /** The scopes the token has. */
  readonly grantedScopes: readonly string[];
  /** Whether any one of `requiredScopes` would have been enough. */
  readonly anyOf: boolean;

  constructor(requiredScopes: readonly string[], grantedScopes: readonly string[], anyOf = false) {
    const missing = anyOf ? requiredScopes : requiredScopes.filter((s) => !grantedScopes.includes(s));
    super(
      "ERR_INSUFFICIENT_SCOPE",
      anyOf
        ? `token has none of the scopes: ${missing.join(" ")}`
        : `token lacks the scopes: ${missing.join(" ")}`,
    );
    this.requiredScopes = Object.freeze([...requiredScopes]);
    this.grantedScopes = Object.freeze([...grantedScopes]);
    this.anyOf = anyOf;
  }
}

/** The token is valid but a claim policy refused it: an authorization decision, HTTP 403. */
export class ClaimPolicyError extends M2MError {
  /** HTTP status an API should answer. */
  readonly status = 403;
  /** The claim whose policy failed. */
  readonly claim: string;

  /** `message` says why, when more than "does not satisfy the policy" helps (it never holds a claim value). */
  constructor(claim: string, message = `token claim "${claim}" does not satisfy the policy`) {
    super("ERR_CLAIM_POLICY", message);
    this.claim = claim;
  }
}

/**
 * Tokens cannot be checked right now (no keys and the JWKS or discovery endpoint unreachable): an API
 * answers 503 so that the caller retries instead of throwing a valid token away.
 */
export class VerifierUnavailableError extends M2MError {
  /** HTTP status an API should answer. */
  readonly status = 503;

  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_VERIFIER_UNAVAILABLE", message, options);
  }
}

/** What failed in an {@link InvalidDpopProofError}. */
export type DpopProofCode =
  | "ERR_DPOP_MISSING"
  | "ERR_DPOP_MULTIPLE"
  | "ERR_DPOP_MALFORMED"
  | "ERR_DPOP_TYP"
  | "ERR_DPOP_ALG_NOT_ALLOWED"
  | "ERR_DPOP_JWK"
  | "ERR_DPOP_SIGNATURE"
  | "ERR_DPOP_HTM"
  | "ERR_DPOP_HTU"
  | "ERR_DPOP_IAT"
  | "ERR_DPOP_ATH"
  | "ERR_DPOP_REPLAY";

/**
 * The DPoP proof (RFC 9449 §4) is missing or does not pass the checks of RFC 9449 §4.3: an API
 * answers 401 with `WWW-Authenticate: DPoP error="invalid_dpop_proof"` (RFC 9449 §7.1).
 */
export class InvalidDpopProofError extends M2MError {
  declare readonly code: DpopProofCode;
  /** HTTP status an API should answer. */
  readonly status = 401;

  constructor(code: DpopProofCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The server wants a nonce in the DPoP proof (RFC 9449 §8, §9): an API answers 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and the nonce in the `DPoP-Nonce` header.
 */
export class UseDpopNonceError extends M2MError {
  /** HTTP status an API should answer. */
  readonly status = 401;
  /** The nonce the client must put in its next proof (sent as `DPoP-Nonce`). */
  readonly nonce: string;

  constructor(nonce: string, message = "the DPoP proof must carry the server's current nonce") {
    super("ERR_DPOP_NONCE", message);
    this.nonce = nonce;
  }
}

/**
 * The replay store is full of proofs still inside their window: rather than forget one (and let a
 * replay through), new proofs are refused until room frees up. An API answers 503 with `Retry-After`.
 */
export class ReplayStoreFullError extends M2MError {
  /** HTTP status an API should answer. */
  readonly status = 503;
  /** Seconds until the oldest remembered proof leaves its window (the `Retry-After` value). */
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super("ERR_DPOP_REPLAY_STORE_FULL", "the DPoP replay store is full; try again later");
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * A shared store (Redis) did not answer where an answer is required: a DPoP replay check cannot
 * pass without one. Token stores never throw it; they fall back to fetching locally.
 */
export class StoreUnavailableError extends M2MError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_STORE_UNAVAILABLE", message, options);
  }
}

/**
 * An optional peer dependency that a feature needs is not installed (or cannot be resolved from
 * m2m-kit's location): `@opentelemetry/api` for `m2m-kit/otel`, `oidc-provider` for
 * `m2m-kit/dev-server`, `hono` for `m2m-kit/hono`'s `httpException`. The message names the package
 * and the command that installs it; the resolution error is the `cause`.
 */
export class MissingPeerDependencyError extends M2MError {
  /** The package to install, e.g. `@opentelemetry/api`. */
  readonly packageName: string;
  /** The command that installs it, e.g. `npm install @opentelemetry/api`. */
  readonly installCommand: string;

  /**
   * @param packageName - the missing package.
   * @param feature - what needs it (`m2m-kit/otel`).
   * @param options - `cause`: the resolution error; `devDependency`: install it with `--save-dev`
   *   (a development tool such as the dev server). Default false.
   */
  constructor(packageName: string, feature: string, options?: { cause?: unknown; devDependency?: boolean }) {
    const installCommand = `npm install ${options?.devDependency ? "--save-dev " : ""}${packageName}`;
    super("ERR_MISSING_PEER_DEPENDENCY", `${feature} needs the ${packageName} package: ${installCommand}`, {
      cause: options?.cause,
    });
    this.packageName = packageName;
    this.installCommand = installCommand;
  }
}
