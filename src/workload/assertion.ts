/**
 * Reading an assertion without verifying it: only what the client itself needs (when it expires, and
 * whose it is, for the cache key). The authorization server verifies it.
 */
import { base64url, decodeJwt, type JWTPayload } from "jose";
import { type AssertionParameter, ClientAssertionError } from "../errors.js";

/**
 * An assertion that expires sooner than this is not sent (it could expire on the way, or before the
 * server checks it), in ms.
 */
export const ASSERTION_MIN_REMAINING_MS = 10_000;

/** An assertion or token as read, with what the client takes from it. */
export interface ReadAssertion {
  /** The assertion itself (trimmed). */
  value: string;
  /**
   * Whose it is: a hash of its `iss`, `sub` and `aud` (a JWT), else of the whole value. Two
   * assertions of one workload (a rotated file) share it; two workloads never do.
   */
  identity: string;
  /** Its `exp` in ms since the epoch; `undefined` for an opaque token or a JWT without `exp`. */
  expiresAt: number | undefined;
}

const encoder = /* @__PURE__ */ new TextEncoder();

/** SHA-256 of `text`, base64url. */
export async function sha256(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

function claimsOf(value: string): JWTPayload | undefined {
  if (value.split(".").length !== 3) return undefined;
  try {
    return decodeJwt(value);
  } catch {
    return undefined;
  }
}

/**
 * Reads an assertion: a JWT (when `jwt` is required: else a `ClientAssertionError`, `malformed`), its
 * `exp` and its identity. Nothing is verified, and its expiry is checked by {@link checkExpiry}.
 */
export async function readAssertion(
  raw: unknown,
  options: {
    parameter: AssertionParameter;
    source: string | undefined;
    /** A JWT with `exp` is required (client assertions, the JWT bearer grant). */
    jwt: boolean;
    /** What the identity hash holds: `claims` (iss, sub, aud) or the `value` itself. */
    identity: "claims" | "value";
  },
): Promise<ReadAssertion> {
  const { parameter, source } = options;
  if (typeof raw !== "string") throw unusable("malformed", "is not a string", parameter, source);
  const value = raw.trim();
  // RFC 6749 Appendix A: form values are visible ASCII; a JWT never holds a space or a line break.
  if (value === "" || !/^[\x21-\x7e]+$/.test(value)) {
    throw unusable("malformed", "is empty or holds spaces or control characters", parameter, source);
  }
  const claims = claimsOf(value);
  if (options.jwt && claims === undefined) throw unusable("malformed", "is not a JWT", parameter, source);
  const exp = claims?.exp;
  if (options.jwt && (typeof exp !== "number" || !Number.isFinite(exp))) {
    throw unusable("malformed", "has no exp claim (RFC 7523 §3)", parameter, source);
  }
  const identity =
    options.identity === "claims" && claims !== undefined
      ? `jwt:${await sha256(JSON.stringify([claims.iss ?? null, claims.sub ?? null, claims.aud ?? null]))}`
      : `value:${await sha256(value)}`;
  return {
    value,
    identity,
    expiresAt: typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined,
  };
}

/**
 * Refuses an assertion that has expired at `now` or expires within `minRemainingMs`
 * (`ClientAssertionError`, `expired`). One without `exp` passes.
 */
export function checkExpiry(
  read: ReadAssertion,
  options: { parameter: AssertionParameter; source: string | undefined; now: number; minRemainingMs: number },
): void {
  const { expiresAt } = read;
  const { now, minRemainingMs } = options;
  if (expiresAt === undefined || (expiresAt > now && expiresAt - now >= minRemainingMs)) return;
  const when = expiresAt <= now ? "has expired" : `expires within ${minRemainingMs / 1000} s`;
  throw unusable(
    "expired",
    `${when} (exp ${new Date(expiresAt).toISOString()})`,
    options.parameter,
    options.source,
  );
}

function unusable(
  problem: "malformed" | "expired",
  why: string,
  parameter: AssertionParameter,
  source: string | undefined,
): ClientAssertionError {
  const from = source === undefined ? "" : ` from ${source}`;
  return new ClientAssertionError(`${parameter}${from} ${why}; no token request was sent`, {
    parameter,
    problem,
    source,
  });
}
