import { decodeJwt } from "jose";
import type { StoredToken } from "./token.js";
import { ACCESS_TOKEN, MAX_TOKEN_LIFETIME_SECONDS, NOT_APPLICABLE, TOKEN_TYPES } from "./token-response.js";

/**
 * How far in the future an entry's `obtainedAt` may lie (another host's clock may run ahead), in ms.
 * Beyond it the entry is refused: a token cannot have been obtained later than now.
 */
export const OBTAINED_AT_SKEW_MS = 5_000;

const MAX_LIFETIME_MS = MAX_TOKEN_LIFETIME_SECONDS * 1000;

// RFC 6749 §3.3 scope-token characters.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** What a token read back from a store must agree with. */
export interface StoredTokenExpectations {
  /** Now, ms since the epoch. */
  now: number;
  /** Refuse an entry without `obtainedAt` (m2m-kit's shared stores always write it). */
  requireObtainedAt?: boolean;
  /**
   * The reading client's DPoP binding: `false` for a client without DPoP (a DPoP-bound token is of
   * no use to it), its key's thumbprint otherwise. Omitted: not checked (a store does not know it).
   */
  dpop?: false | { thumbprint: string; allowBearer: boolean };
  /** The audience the entry's key names (`null` for none). Omitted: not checked. */
  audience?: string | null;
}

/**
 * A token read back from a shared store is untrusted input: it is checked as a fresh token response
 * is (`access_token` syntax, `token_type`, the one-year lifetime cap), plus what only a stored entry
 * has (`obtainedAt` not in the future, `refreshAt` inside the lifetime, the DPoP binding and the
 * audience of the key it was found under).
 *
 * @returns Why the entry is refused (never the token or a value from it), or `undefined` when it passes.
 */
export function checkStoredToken(token: StoredToken, expect: StoredTokenExpectations): string | undefined {
  const { accessToken, tokenType, expiresAt, refreshAt, obtainedAt, scope, audience } = token;
  if (typeof accessToken !== "string" || !ACCESS_TOKEN.test(accessToken)) return "access token syntax";
  if (
    typeof tokenType !== "string" ||
    (TOKEN_TYPES.get(tokenType.toLowerCase()) !== tokenType && tokenType !== NOT_APPLICABLE)
  ) {
    return "token type";
  }
  const { issuedTokenType } = token;
  if (
    issuedTokenType !== undefined &&
    (typeof issuedTokenType !== "string" || !/^[\x21-\x7e]{1,512}$/.test(issuedTokenType))
  ) {
    return "issued token type";
  }
  if (!Number.isFinite(expiresAt) || !Number.isFinite(refreshAt)) return "expiry is not a time";
  if (obtainedAt === undefined) {
    if (expect.requireObtainedAt) return "no obtainedAt";
    if (expiresAt - expect.now > MAX_LIFETIME_MS) return "lifetime longer than one year";
  } else {
    if (typeof obtainedAt !== "number" || !Number.isFinite(obtainedAt)) return "obtainedAt is not a time";
    if (obtainedAt > expect.now + OBTAINED_AT_SKEW_MS) return "obtained in the future";
    if (expiresAt <= obtainedAt || expiresAt - obtainedAt > MAX_LIFETIME_MS) {
      return "lifetime longer than one year";
    }
    if (refreshAt < obtainedAt) return "refresh time outside the lifetime";
  }
  if (refreshAt > expiresAt) return "refresh time outside the lifetime";
  if (!Array.isArray(scope) || !scope.every((s) => typeof s === "string" && SCOPE_TOKEN.test(s))) {
    return "scope syntax";
  }
  if (audience !== undefined && typeof audience !== "string") return "audience is not a string";
  if (expect.audience !== undefined && (audience ?? null) !== expect.audience)
    return "audience of another key";
  if (expect.dpop !== undefined) return checkBinding(token, expect.dpop);
  return undefined;
}

/** RFC 9449 §6.1: a bound token is only of use to the holder of the key its `cnf.jkt` names. */
function checkBinding(
  token: StoredToken,
  dpop: false | { thumbprint: string; allowBearer: boolean },
): string | undefined {
  if (dpop === false) {
    if (token.tokenType === "DPoP") return "a DPoP-bound token for a client without DPoP";
  } else if (token.tokenType !== "DPoP" && !dpop.allowBearer) {
    return "a Bearer token for a DPoP client";
  }
  const jkt = boundKey(token.accessToken);
  if (jkt === undefined) return undefined;
  if (dpop === false || jkt !== dpop.thumbprint) return "bound to another DPoP key";
  return undefined;
}

function boundKey(accessToken: string): string | undefined {
  if (accessToken.split(".").length !== 3) return undefined;
  try {
    const cnf = decodeJwt(accessToken).cnf as { jkt?: unknown } | undefined;
    return typeof cnf?.jkt === "string" ? cnf.jkt : undefined;
  } catch {
    return undefined; // an opaque token that happens to have two dots
  }
}

/**
 * A stored token read back from shared storage (JSON), or `undefined` when its shape is wrong. The
 * values are checked by {@link checkStoredToken}.
 */
export function parseStoredToken(json: string): StoredToken | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const t = value as Record<string, unknown>;
  if (
    typeof t.accessToken !== "string" ||
    typeof t.tokenType !== "string" ||
    typeof t.expiresAt !== "number" ||
    typeof t.refreshAt !== "number" ||
    (t.obtainedAt !== undefined && typeof t.obtainedAt !== "number") ||
    !Array.isArray(t.scope) ||
    !t.scope.every((s) => typeof s === "string") ||
    (t.audience !== undefined && t.audience !== null && typeof t.audience !== "string") ||
    (t.issuedTokenType !== undefined && typeof t.issuedTokenType !== "string")
  ) {
    return undefined;
  }
  const token: StoredToken = {
    accessToken: t.accessToken,
    tokenType: t.tokenType,
    expiresAt: t.expiresAt,
    refreshAt: t.refreshAt,
    scope: t.scope as string[],
    audience: (t.audience ?? undefined) as string | undefined,
  };
  if (typeof t.obtainedAt === "number") token.obtainedAt = t.obtainedAt;
  if (typeof t.issuedTokenType === "string") token.issuedTokenType = t.issuedTokenType;
  return token;
}
