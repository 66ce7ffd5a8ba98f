import type { JWTPayload } from "jose";
import { ClaimPolicyError, InvalidTokenError } from "../errors.js";

/** A claim policy: an exact value, a list of allowed values, or a predicate. */
export type ClaimRule =
  | string
  | number
  | boolean
  | readonly (string | number | boolean)[]
  | ((value: unknown, claims: JWTPayload) => boolean);

/** RFC 7519 §4.1.4/§4.1.5/§4.1.6: `exp` (required), `nbf`, `iat`, then the age. Returns `exp` in ms. */
export function checkTimes(
  claims: JWTPayload,
  now: number,
  toleranceMs: number,
  maxAgeMs: number | undefined,
): number {
  const { exp, nbf, iat } = claims;
  if (exp === undefined) throw new InvalidTokenError("ERR_JWT_CLAIM_MISSING", "token has no exp claim");
  if (typeof exp !== "number" || !Number.isFinite(exp))
    throw new InvalidTokenError("ERR_JWT_MALFORMED", "token exp is not a number");
  if (exp * 1000 <= now - toleranceMs) throw new InvalidTokenError("ERR_JWT_EXPIRED", "token has expired");
  if (nbf !== undefined) {
    if (typeof nbf !== "number" || !Number.isFinite(nbf))
      throw new InvalidTokenError("ERR_JWT_MALFORMED", "token nbf is not a number");
    if (nbf * 1000 > now + toleranceMs)
      throw new InvalidTokenError("ERR_JWT_NOT_YET_VALID", "token is not valid yet (nbf)");
  }
  if (iat !== undefined) {
    if (typeof iat !== "number" || !Number.isFinite(iat))
      throw new InvalidTokenError("ERR_JWT_MALFORMED", "token iat is not a number");
    if (iat * 1000 > now + toleranceMs)
      throw new InvalidTokenError("ERR_JWT_IAT_IN_FUTURE", "token was issued in the future (iat)");
  }
  checkAge(iat, now, toleranceMs, maxAgeMs);
  return exp * 1000;
}

/** `maxTokenAgeSeconds`: the token's `iat` must be recent enough. */
export function checkAge(
  iat: number | undefined,
  now: number,
  toleranceMs: number,
  maxAgeMs: number | undefined,
): void {
  if (maxAgeMs === undefined) return;
  if (iat === undefined) throw new InvalidTokenError("ERR_JWT_CLAIM_MISSING", "token has no iat claim");
  if (now - iat * 1000 > maxAgeMs + toleranceMs)
    throw new InvalidTokenError("ERR_JWT_TOO_OLD", "token is too old (iat)");
}

/**
 * RFC 7519 §4.1.1: the refusal of a token whose `iss` is none of the accepted issuers. Issuers are
 * compared exactly; when the token's and an accepted one differ only by a trailing slash (the most
 * common mistake, as providers differ on it), the message names both, since issuers are public.
 */
export function issuerNotAccepted(iss: unknown, accepted: Iterable<string>): InvalidTokenError {
  if (typeof iss === "string") {
    const bare = iss.endsWith("/") ? iss.slice(0, -1) : iss;
    for (const expected of accepted) {
      if (expected === `${bare}/` || expected === bare) {
        return new InvalidTokenError(
          "ERR_JWT_ISSUER",
          `the token's issuer is ${JSON.stringify(iss)} but the verifier expects ${JSON.stringify(expected)} (they differ only by a trailing slash)`,
        );
      }
    }
  }
  return new InvalidTokenError("ERR_JWT_ISSUER", "token issuer is not accepted");
}

/** RFC 7519 §4.1.3: `aud` (a string or an array) must contain an accepted audience; `null` accepts any. */
export function checkAudience(aud: unknown, accepted: readonly string[] | null): void {
  if (accepted === null) return;
  const ok =
    typeof aud === "string"
      ? accepted.includes(aud)
      : Array.isArray(aud) && aud.some((a) => typeof a === "string" && accepted.includes(a));
  if (!ok) throw new InvalidTokenError("ERR_JWT_AUDIENCE", "token audience is not accepted");
}

function matchesRule(rule: ClaimRule, value: unknown, claims: JWTPayload): boolean {
  if (typeof rule === "function") {
    try {
      return rule(value, claims) === true;
    } catch {
      return false;
    }
  }
  const allowed: readonly unknown[] = Array.isArray(rule) ? rule : [rule];
  return Array.isArray(value) ? value.some((v) => allowed.includes(v)) : allowed.includes(value);
}

/** Claim policies: a failure is a 403 (`ClaimPolicyError`), not a bad token. */
export function checkClaimPolicies(
  policies: ReadonlyArray<readonly [string, ClaimRule]>,
  claims: JWTPayload,
): void {
  for (const [name, rule] of policies) {
    if (!matchesRule(rule, claims[name], claims)) throw new ClaimPolicyError(name);
  }
}

/** The client the token was issued to: `client_id` (RFC 9068), `azp`, `cid` (Okta) or `appid` (Entra v1). */
export function clientIdOf(claims: JWTPayload): string | undefined {
  for (const name of ["client_id", "azp", "cid", "appid"]) {
    const value = claims[name];
    if (typeof value === "string") return value;
  }
  return undefined;
}
