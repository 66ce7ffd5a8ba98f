import {
  ClaimPolicyError,
  InsufficientScopeError,
  InvalidTokenError,
  M2MError,
  VerifierUnavailableError,
} from "../errors.js";
import { emitTo } from "../verify/events.js";
import type { HttpAuthOptions } from "./config.js";
import { resourceMetadataUrl } from "./resource-metadata.js";

/**
 * The `error` of an RFC 6750 §3.1 challenge and JSON body: `invalid_request` (400), `invalid_token`
 * (401), `insufficient_scope` (403), `temporarily_unavailable` (503, keys unreachable),
 * `invalid_dpop_proof` and `use_dpop_nonce` (RFC 9449 §7.1, 401), and `unauthorized` for a request
 * with no credentials (401, a challenge with no error code, as §3.1 asks).
 */
export type HttpErrorCode =
  | "invalid_request"
  | "invalid_token"
  | "insufficient_scope"
  | "unauthorized"
  | "temporarily_unavailable"
  | "invalid_dpop_proof"
  | "use_dpop_nonce";

/** An authentication failure with its HTTP status, headers and body. */
export class HttpAuthError extends M2MError {
  /** The HTTP status to answer: 400, 401, 403 or 503. */
  readonly status: number;
  /** Alias of `status` for frameworks that read `statusCode`. */
  readonly statusCode: number;
  /** Headers to send: `WWW-Authenticate` (RFC 6750 §3), and `Retry-After` or `DPoP-Nonce` where they apply. */
  readonly headers: Record<string, string>;
  /** The RFC 6750 error code; `unauthorized` when no credentials were sent (no code in the challenge). */
  readonly error: HttpErrorCode;
  /** Human-readable `error_description`; never contains the token. */
  readonly errorDescription: string;

  constructor(
    status: number,
    error: HttpErrorCode,
    errorDescription: string,
    headers: Record<string, string>,
    options?: { cause?: unknown },
  ) {
    super(
      (options?.cause as M2MError | undefined)?.code ?? `ERR_HTTP_${error.toUpperCase()}`,
      errorDescription,
      options,
    );
    this.status = status;
    this.statusCode = status;
    this.error = error;
    this.errorDescription = errorDescription;
    this.headers = headers;
  }

  /** The JSON body `{ "error", "error_description" }`. */
  toJSON(): {
    /** The RFC 6750 error code. */
    error: string;
    /** Human-readable description, without the token. */
    error_description: string;
  } {
    return { error: this.error, error_description: this.errorDescription };
  }
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3), every attribute quoted and escaped. */
export function bearerChallenge(
  realm: string | undefined,
  attributes: Record<string, string | undefined> = {},
): string {
  return challengeOf("Bearer", realm, attributes);
}

/** A challenge of `scheme` (`Bearer`, RFC 6750 §3; `DPoP`, RFC 9449 §7.1), attributes quoted. */
function challengeOf(
  scheme: "Bearer" | "DPoP",
  realm: string | undefined,
  attributes: Record<string, string | undefined>,
): string {
  const parts: string[] = [];
  if (realm !== undefined) parts.push(`realm=${quote(realm)}`);
  for (const [name, value] of Object.entries(attributes))
    if (value !== undefined) parts.push(`${name}=${quote(value)}`);
  return parts.length ? `${scheme} ${parts.join(", ")}` : scheme;
}

/**
 * The settings a challenge is built from: `realm`, and, once resolved (`withResourceMetadata`), the
 * metadata URL every challenge carries (RFC 9728 §5.1).
 */
export type ChallengeSettings = Pick<HttpAuthOptions, "realm" | "resourceMetadata">;

/**
 * An {@link HttpAuthError} with its challenge: `Bearer` (RFC 6750 §3), or `DPoP` (RFC 9449 §7.1) for
 * a request made with a DPoP-bound token, whose client reads the challenge of the scheme it used.
 */
export function failure(
  status: number,
  error: HttpErrorCode,
  description: string,
  settings: ChallengeSettings,
  extra: Record<string, string | undefined> = {},
  cause?: unknown,
  scheme: "Bearer" | "DPoP" = "Bearer",
): HttpAuthError {
  const headers: Record<string, string> = {};
  if (status === 503) {
    headers["retry-after"] = "30";
  } else {
    // No credentials: a bare challenge, no error attribute (RFC 6750 §3.1).
    const attributes = error === "unauthorized" ? {} : { error, error_description: description, ...extra };
    headers["www-authenticate"] = challengeOf(scheme, settings.realm, {
      ...attributes,
      resource_metadata: resourceMetadataUrl(settings),
    });
  }
  return new HttpAuthError(status, error, description, headers, { cause });
}

/** The stable `code` of an m2m-kit error from any copy of the package (ESM or CommonJS build). */
export function m2mCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_") ? code : undefined;
}

/**
 * Maps a verification failure to its HTTP answer (RFC 6750 §3.1). Errors are recognised by their
 * stable `code`, so a verifier from the other build (ESM/CommonJS) maps the same. Other errors are
 * returned as they are.
 */
export function toHttpAuthError(error: unknown, realm?: string): HttpAuthError | unknown {
  return httpAuthErrorOf(error, { realm });
}

/** {@link toHttpAuthError} with the challenge of an adapter's settings. */
export function httpAuthErrorOf(error: unknown, settings: ChallengeSettings): HttpAuthError | unknown {
  if (error instanceof HttpAuthError) return error;
  const code = m2mCode(error);
  if (code === undefined) return error;
  const message = (error as Error).message;
  if (
    error instanceof InvalidTokenError ||
    code.startsWith("ERR_JWT_") ||
    code === "ERR_JWKS_NO_MATCHING_KEY" ||
    code === "ERR_TOKEN_INACTIVE"
  ) {
    return failure(401, "invalid_token", message, settings, {}, error);
  }
  if (error instanceof InsufficientScopeError || code === "ERR_INSUFFICIENT_SCOPE") {
    const required = (error as { requiredScopes?: unknown }).requiredScopes;
    const scope = Array.isArray(required) ? required.join(" ") : undefined;
    return failure(403, "insufficient_scope", message, settings, { scope }, error);
  }
  if (error instanceof ClaimPolicyError || code === "ERR_CLAIM_POLICY") {
    return failure(403, "insufficient_scope", message, settings, {}, error);
  }
  if (error instanceof VerifierUnavailableError || code === "ERR_VERIFIER_UNAVAILABLE") {
    return failure(
      503,
      "temporarily_unavailable",
      "access tokens cannot be checked right now",
      settings,
      {},
      error,
    );
  }
  return error;
}

/** Reports a refusal to `onEvent` (nothing when there is no listener). */
export function reportRefusal(error: unknown, options: HttpAuthOptions): void {
  if (options.onEvent === undefined || !(error instanceof HttpAuthError)) return;
  emitTo(options.onEvent, {
    type: "request_refused",
    status: error.status,
    error: error.error,
    code: error.code,
    cause: error.cause,
  });
}

/** The response body and content type for an error, through the `errorBody` hook if given. */
export function errorResponseBody(
  error: HttpAuthError,
  options: HttpAuthOptions = {},
): { contentType: string; body: string } {
  reportRefusal(error, options);
  if (options.errorBody) {
    const shaped = options.errorBody(error);
    if (typeof shaped?.body !== "string" || typeof shaped.contentType !== "string") {
      throw new TypeError("errorBody must return { contentType: string, body: string }");
    }
    return shaped;
  }
  return { contentType: "application/json", body: JSON.stringify(error.toJSON()) };
}
