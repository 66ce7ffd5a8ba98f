import type { ProtectedHeaderParameters } from "jose";
import { InvalidTokenError } from "../errors.js";

/** The checked protected header of a JWS. */
export interface Header {
  alg: string;
  kid: string | undefined;
  typ: string | undefined;
  raw: ProtectedHeaderParameters;
}

/**
 * RFC 7515 §7.1: the positions of the two dots of a compact JWS (three non-empty parts; the payload
 * may not be empty either, an access token has claims). Throws `ERR_JWT_MALFORMED`.
 */
export function splitCompact(token: string): [firstDot: number, secondDot: number] {
  const firstDot = token.indexOf(".");
  const secondDot = token.indexOf(".", firstDot + 1);
  if (
    firstDot <= 0 ||
    secondDot <= firstDot + 1 ||
    secondDot === token.length - 1 ||
    token.indexOf(".", secondDot + 1) !== -1
  ) {
    throw new InvalidTokenError("ERR_JWT_MALFORMED", "token is not a JWS in compact serialization");
  }
  return [firstDot, secondDot];
}

/** Checks a decoded protected header: `alg` allowed, no `crit`, `kid` and `typ` strings. */
export function checkHeader(text: string | undefined, algorithms: ReadonlySet<string>): Header {
  const raw = parseSegment<ProtectedHeaderParameters>(text, "header");
  const { alg, kid, typ, crit } = raw;
  if (typeof alg !== "string" || !algorithms.has(alg)) {
    throw new InvalidTokenError("ERR_JWT_ALG_NOT_ALLOWED", "token alg is not allowed");
  }
  // RFC 7515 §4.1.11: m2m-kit understands no extension, so any `crit` is rejected.
  if (crit !== undefined)
    throw new InvalidTokenError(
      "ERR_JWT_CRIT",
      "token has critical header parameters that are not supported",
    );
  if (kid !== undefined && typeof kid !== "string")
    throw new InvalidTokenError("ERR_JWT_MALFORMED", "token kid is not a string");
  if (typ !== undefined && typeof typ !== "string")
    throw new InvalidTokenError("ERR_JWT_MALFORMED", "token typ is not a string");
  // jku, x5u, x5c and jwk are never used to find a key: only the configured JWKS is trusted.
  return { alg, kid, typ, raw: Object.freeze(raw) };
}

/** RFC 8725 §3.11 / RFC 9068 §2.1: media types compare without `application/` and case-insensitively. */
export function typMatches(typ: string | undefined, required: string): boolean {
  if (typ === undefined) return false;
  const normalize = (t: string) => {
    const lower = t.toLowerCase();
    return lower.startsWith("application/") ? lower.slice(12) : lower;
  };
  return normalize(typ) === normalize(required);
}

/**
 * Base64url decoders ignore the unused low bits of the last character, so several strings decode to
 * the same signature. Only the canonical one is accepted: a token has exactly one valid spelling.
 */
export function isCanonicalBase64Url(text: string): boolean {
  switch (text.length % 4) {
    case 0:
      return true;
    case 2:
      return "AQgw".includes(text.charAt(text.length - 1));
    case 3:
      return "AEIMQUYcgkosw048".includes(text.charAt(text.length - 1));
    default:
      return false;
  }
}

/** A decoded JWS segment that must be a JSON object. */
export function parseSegment<T>(text: string | undefined, part: "header" | "payload"): T {
  let value: unknown;
  try {
    value = JSON.parse(text as string);
  } catch {
    throw new InvalidTokenError("ERR_JWT_MALFORMED", `token ${part} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidTokenError("ERR_JWT_MALFORMED", `token ${part} is not a JSON object`);
  }
  return value as T;
}
