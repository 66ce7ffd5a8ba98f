import { decodeJwt } from "jose";
import { OAuthError, type OAuthErrorBody, TokenRequestError } from "../errors.js";
import { PROXY_AUTHENTICATION_REFUSED, parseJsonObject, withoutNulls } from "../lib/http.js";
import { parseRetryAfter } from "../lib/retry.js";
import { refreshAt } from "./options.js";
import type { Target } from "./target.js";
import type { StoredToken } from "./token.js";

export interface ParsedTokenResponse {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  scope: string[] | undefined;
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
): ParsedTokenResponse {
  const body = parseJsonObject(text);
  if (!body) malformedBody(text, status);
  const {
    access_token: accessToken,
    token_type: tokenType,
    expires_in: expiresIn,
    scope,
  } = withoutNulls(body);
  if (typeof accessToken !== "string" || accessToken === "") {
    throw malformed("access_token is missing or not a string", status);
  }
  if (tokenType !== undefined && (typeof tokenType !== "string" || tokenType === "")) {
    throw malformed("token_type is not a string", status);
  }
  if (scope !== undefined && typeof scope !== "string") {
    throw malformed("scope is not a string", status);
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
    tokenType: !tokenType || tokenType.toLowerCase() === "bearer" ? "Bearer" : tokenType,
    expiresAt: sentAt + lifetimeMs,
    scope: scope === undefined ? undefined : scope.split(" ").filter(Boolean),
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

/** An OAuth error body (RFC 6749 §5.2), or `undefined` when the text is not one. */
export function parseOAuthError(text: string): OAuthErrorBody | undefined {
  const body = parseJsonObject(text);
  if (!body || typeof body.error !== "string" || body.error === "") return undefined;
  for (const field of ["error_description", "error_uri"]) {
    if (body[field] !== undefined && typeof body[field] !== "string") delete body[field];
  }
  return body as OAuthErrorBody;
}

/** The error for a token response that is not a token: an OAuth error body (any status), else by status. */
export function errorForStatus(text: string, status: number, retryAfterMs: number | undefined): Error {
  const body = parseOAuthError(text);
  if (body) return new OAuthError(body, status, retryAfterMs);
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
    );
  }
  const parsed = parseTokenResponse(
    text,
    response.status,
    context.sentAt,
    context.defaultTokenLifetimeSeconds,
  );
  if (parsed.expiresAt <= context.now) {
    throw new TokenRequestError("token endpoint returned a token that has already expired", {
      status: response.status,
      transient: false,
    });
  }
  return {
    accessToken: parsed.accessToken,
    tokenType: parsed.tokenType,
    expiresAt: parsed.expiresAt,
    refreshAt: refreshAt(context.sentAt, parsed.expiresAt, context.refreshWindowSeconds),
    scope: parsed.scope ?? context.target.scope,
    audience: context.target.audience,
  };
}
