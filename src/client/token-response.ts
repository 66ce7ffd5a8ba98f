import { decodeJwt } from "jose";
import { OAuthError, type OAuthErrorBody, TokenRequestError } from "../errors.js";
import { PROXY_AUTHENTICATION_REFUSED, parseJsonObject, withoutNulls } from "../lib/http.js";
import { parseRetryAfter } from "../lib/retry.js";
import type { Target } from "./target.js";
import type { StoredToken } from "./token.js";

export interface ParsedTokenResponse {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  scope: string[] | undefined;
  /** RFC 8693 §2.2.1 `issued_token_type`, when the answer has one. */
  issuedTokenType: string | undefined;
}

function malformed(reason: string, status: number): TokenRequestError {
  return new TokenRequestError(`token endpoint returned a malformed response: ${reason}`, {
    status,
    transient: false,
  });
}

/**
 * Longest lifetime a token is trusted to have: one year (RFC 6749 sets no bound). A longer
 * `expires_in` (or JWT `exp`) is capped to it, so the token is refreshed after a year at the latest
 * and `expiresAt` stays a valid date.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 366 * 24 * 3600;

/** `expires_in` as a JSON number, or a decimal string of one ("3600"); anything else is refused. */
const DECIMAL = /^\d+(?:\.\d+)?$/;

/** `access_token`: visible ASCII (%x21-7E), so it always fits an `Authorization` header. */
export const ACCESS_TOKEN = /^[\x21-\x7e]+$/;

/** The token types a client can use (RFC 6750 §4, RFC 9449 §5), by their case-insensitive name. */
export const TOKEN_TYPES = new Map([
  ["bearer", "Bearer"],
  ["dpop", "DPoP"],
]);

/** RFC 8693 §2.2.1: a token exchange may issue a token that is not an access token. */
export const NOT_APPLICABLE = "N_A";

/** RFC 9110 §5.6.2 token, at most 20 characters. */
const SHORT_HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/;

/**
 * RFC 6749 §5.1. `expiresAt` counts from `sentAt`, when the request left, so that a slow answer never
 * makes a token look fresher than it is. Without `expires_in`: the JWT's `exp`, else the default.
 * A member whose value is JSON `null` counts as absent; lifetimes are capped at
 * {@link MAX_TOKEN_LIFETIME_SECONDS}.
 */
export function parseTokenResponse(
  text: string,
  status: number,
  sentAt: number,
  defaultLifetimeSeconds: number,
  acceptsNotApplicable = false,
): ParsedTokenResponse {
  const body = parseJsonObject(text);
  if (!body) malformedBody(text, status);
  const {
    access_token: accessToken,
    token_type: tokenType,
    expires_in: expiresIn,
    scope,
    issued_token_type: issuedTokenType,
  } = withoutNulls(body);
  if (typeof accessToken !== "string" || accessToken === "") {
    throw malformed("access_token is missing or not a string", status);
  }
  // RFC 6749 Appendix A.12 (VSCHAR) without the space: what fits an Authorization header as is.
  // Wider than RFC 6750 b64token, so opaque tokens with `!`, `:` or `|` (Salesforce, …) still pass.
  if (!ACCESS_TOKEN.test(accessToken)) {
    throw malformed("access_token is not a valid token", status);
  }
  if (tokenType !== undefined && (typeof tokenType !== "string" || tokenType === "")) {
    throw malformed("token_type is not a string", status);
  }
  const lower = typeof tokenType === "string" ? tokenType.toLowerCase() : undefined;
  const scheme =
    lower === undefined
      ? "Bearer"
      : acceptsNotApplicable && lower === "n_a"
        ? NOT_APPLICABLE
        : TOKEN_TYPES.get(lower);
  if (scheme === undefined) {
    // Named only when it cannot be a token pasted into the wrong field: a short RFC 9110 token.
    const named = SHORT_HTTP_TOKEN.test(tokenType as string) ? ` ${tokenType as string}` : "";
    throw malformed(`unsupported token_type${named} (Bearer or DPoP expected)`, status);
  }
  if (scope !== undefined && typeof scope !== "string") {
    throw malformed("scope is not a string", status);
  }
  if (
    issuedTokenType !== undefined &&
    (typeof issuedTokenType !== "string" || !/^[\x21-\x7e]{1,512}$/.test(issuedTokenType))
  ) {
    throw malformed("issued_token_type is not a token type URI", status);
  }
  let lifetimeMs: number;
  if (expiresIn !== undefined) {
    // Some servers send expires_in as a numeric string ("3600"); accept it.
    const seconds = typeof expiresIn === "string" && DECIMAL.test(expiresIn) ? Number(expiresIn) : expiresIn;
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) {
      throw malformed("expires_in is not a positive number", status);
    }
    lifetimeMs = Math.min(seconds, MAX_TOKEN_LIFETIME_SECONDS) * 1000;
  } else {
    const exp = jwtExpiry(accessToken);
    lifetimeMs = exp !== undefined ? exp - sentAt : defaultLifetimeSeconds * 1000;
    lifetimeMs = Math.min(lifetimeMs, MAX_TOKEN_LIFETIME_SECONDS * 1000);
  }
  return {
    accessToken,
    tokenType: scheme,
    expiresAt: sentAt + lifetimeMs,
    scope: scope === undefined ? undefined : scope.split(" ").filter(Boolean),
    issuedTokenType: issuedTokenType as string | undefined,
  };
}

function malformedBody(text: string, status: number): never {
  const looksHtml = /^\s*</.test(text);
  throw malformed(looksHtml ? "an HTML page, not JSON" : "not a JSON object", status);
}

function jwtExpiry(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the client's own credentials from text a server sent back. */
export type Redact = (text: string) => string;

/**
 * An OAuth error body (RFC 6749 §5.2), or `undefined` when the text is not one. With `redact`, every
 * string member (`error_description`, `error_uri`, …) is passed through it: a server that echoes the
 * request must not put the client's secret or assertion into messages and events.
 */
export function parseOAuthError(text: string, redact?: Redact): OAuthErrorBody | undefined {
  const body = parseJsonObject(text);
  if (!body || typeof body.error !== "string" || body.error === "") return undefined;
  for (const field of ["error_description", "error_uri"]) {
    if (body[field] !== undefined && typeof body[field] !== "string") delete body[field];
  }
  if (redact) {
    for (const [field, value] of Object.entries(body)) {
      if (typeof value === "string") body[field] = redact(value);
      else if (typeof value === "object" && value !== null) body[field] = redactJson(value, redact);
    }
  }
  return body as OAuthErrorBody;
}

function redactJson(value: object, redact: Redact): unknown {
  try {
    return JSON.parse(redact(JSON.stringify(value)));
  } catch {
    return undefined;
  }
}

/**
 * A {@link Redact} for `secrets` (as sent: raw, percent-encoded and form-encoded); values shorter than
 * 4 characters are left alone, as they would match ordinary words.
 */
export function redactor(secrets: ReadonlyArray<string | undefined>): Redact {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(new URLSearchParams({ s: secret }).toString().slice(2));
  }
  // Longest first, so that a secret containing another is replaced whole.
  const list = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    for (const form of list) text = text.split(form).join("[redacted]");
    return text;
  };
}

/** The error for a token response that is not a token: an OAuth error body (any status), else by status. */
export function errorForStatus(
  text: string,
  status: number,
  retryAfterMs: number | undefined,
  redact?: Redact,
  hint?: (error: string) => string | undefined,
): Error {
  const body = parseOAuthError(text, redact);
  if (body) return new OAuthError(body, status, retryAfterMs, hint?.(body.error));
  if (status === 407) {
    // A plain http request sent through a forward proxy: the answer is the proxy's, not the server's.
    return new TokenRequestError(`token request failed: ${PROXY_AUTHENTICATION_REFUSED}`, {
      status,
      transient: false,
    });
  }
  return new TokenRequestError(`token endpoint answered ${status}`, {
    status,
    transient: status >= 500 || status === 429 || status === 408,
    retryAfterMs,
  });
}

/** What reading a token response needs besides the response itself. */
export interface TokenResponseContext {
  /** When the request left, ms since the epoch: lifetimes count from here. */
  sentAt: number;
  /** Now, ms since the epoch (after the answer arrived). */
  now: number;
  target: Target;
  defaultTokenLifetimeSeconds: number;
  refreshWindowSeconds: number | undefined;
  /** Removes the client's credentials from an OAuth error body before it becomes an `OAuthError`. */
  redact?: Redact;
  /** What to check for an OAuth error (`OAuthError.hint`). */
  hint?: (error: string) => string | undefined;
  /** The token is kept no later than this, ms since the epoch (a subject token's `exp`). */
  notAfter?: number | undefined;
  /** `token_type: N_A` is an answer (RFC 8693 §2.2.1). */
  acceptsNotApplicable?: boolean;
}

/**
 * Reads a token endpoint answer into what the store keeps, or throws the error it stands for
 * (`OAuthError`, `TokenRequestError`).
 */
export function readTokenResponse(
  response: Response,
  text: string,
  context: TokenResponseContext,
): StoredToken {
  // An OAuth error body is an OAuthError whatever the status: some servers answer errors with 200.
  if (!response.ok || parseOAuthError(text)) {
    throw errorForStatus(
      text,
      response.status,
      parseRetryAfter(response.headers.get("retry-after"), context.now),
      context.redact,
      context.hint,
    );
  }
  const parsed = parseTokenResponse(
    text,
    response.status,
    context.sentAt,
    context.defaultTokenLifetimeSeconds,
    context.acceptsNotApplicable,
  );
  const { notAfter } = context;
  if (notAfter !== undefined && notAfter < parsed.expiresAt) parsed.expiresAt = notAfter;
  if (parsed.expiresAt <= context.now) {
    throw new TokenRequestError("token endpoint returned a token that has already expired", {
      status: response.status,
      transient: false,
    });
  }
  const stored: StoredToken = {
    accessToken: parsed.accessToken,
    tokenType: parsed.tokenType,
    expiresAt: parsed.expiresAt,
    refreshAt: refreshAt(context.sentAt, parsed.expiresAt, context.refreshWindowSeconds),
    obtainedAt: context.sentAt,
    scope: parsed.scope ?? context.target.scope,
    audience: context.target.audience,
  };
  if (parsed.issuedTokenType !== undefined) stored.issuedTokenType = parsed.issuedTokenType;
  return stored;
}

/**
 * DESIGN.md: 10% of the lifetime, at least 60 s, at most half the lifetime; or the fixed
 * `refreshWindowSeconds`, still capped at half. Up to 10% jitter shortens it, so a fleet that got its
 * tokens together does not refresh together.
 */
export function refreshAt(
  sentAt: number,
  expiresAt: number,
  fixedWindowSeconds: number | undefined,
  random: () => number = Math.random,
): number {
  const lifetime = Math.max(0, expiresAt - sentAt);
  const wanted =
    fixedWindowSeconds !== undefined ? fixedWindowSeconds * 1000 : Math.max(60_000, lifetime * 0.1);
  const window = Math.min(wanted, lifetime / 2) * (1 - 0.1 * random());
  return expiresAt - window;
}
