import { base64url } from "jose";
import { InvalidDpopProofError } from "../errors.js";

/**
 * The JWS layer of a DPoP proof (RFC 9449 §4.3 steps 2–6 and 8): the compact serialization, the
 * protected header, `typ`, and the registered time claims, checked as jose's `jwtVerify` checks
 * them, in the same order, so that a proof gets the same answer whichever runtime checks its
 * signature. The signature itself is the platform's (`#platform`): node:crypto or WebCrypto.
 */

/** The decoded protected header of a proof. */
export interface ProofHeader {
  /** The JWS `alg`, on the verifier's allow-list. */
  alg: string;
  [name: string]: unknown;
}

/** A proof split into its parts, its header checked; the signature is not checked yet. */
export interface ProofParts extends CheckedHeader {
  /** `header.payload` as sent: what the signature covers. */
  signingInput: string;
  payload: string;
  signature: string;
}

type ProofErrorCode = ConstructorParameters<typeof InvalidDpopProofError>[0];

export function invalidProof(code: ProofErrorCode, message: string, cause?: unknown): InvalidDpopProofError {
  return new InvalidDpopProofError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * A request target with a dot segment (see `hasDotSegment`): 401 `invalid_dpop_proof`. The router
 * sees the raw target, the comparison of `htu` its normalized form (RFC 9449 §4.3 step 9).
 */
export function dotSegments(): InvalidDpopProofError {
  return invalidProof(
    "ERR_DPOP_HTU",
    'the request target has a dot segment ("." or ".."); it cannot be compared with the DPoP proof\'s htu',
  );
}

function malformed(): InvalidDpopProofError {
  return invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof is not a valid JWT");
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NON_ASCII = /[\u0080-\uffff]/;
const strictDecoder = /* @__PURE__ */ new TextDecoder("utf-8", { fatal: true });

/** A segment's text: base64url without padding (RFC 7515 §2) of UTF-8, or `undefined`. */
function decodeSegment(segment: string, decode: (text: string) => string | undefined): string | undefined {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return undefined;
  const text = decode(segment);
  // node:crypto's platform decodes UTF-8 leniently (bad octets become U+FFFD): decide strictly.
  if (text === undefined || !text.includes("\uFFFD")) return text;
  try {
    return strictDecoder.decode(base64url.decode(segment));
  } catch {
    return undefined;
  }
}

function parseObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A protected header that passed {@link checkProofHeader}. */
export interface CheckedHeader {
  header: ProofHeader;
  /** RFC 7797 `b64: false`: the signature is checked, then the proof is refused (a JWT is never unencoded). */
  unencoded: boolean;
}

/**
 * Checks the protected header of a proof (its first segment): a JSON object, `crit` (only `b64`
 * is understood, RFC 7797), `alg` a non-empty string on `algorithms`.
 * @throws InvalidDpopProofError `ERR_DPOP_MALFORMED`, `ERR_DPOP_ALG_NOT_ALLOWED`
 */
export function checkProofHeader(
  segment: string,
  algorithms: ReadonlySet<string>,
  decode: (text: string) => string | undefined,
): CheckedHeader {
  const header = parseObject(decodeSegment(segment, decode));
  if (header === undefined) throw malformed();
  let unencoded = false;
  const crit = header.crit;
  if (crit !== undefined) {
    if (
      !Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((name) => typeof name !== "string" || name === "")
    ) {
      throw malformed();
    }
    for (const name of crit as string[]) {
      if (name !== "b64") {
        throw invalidProof(
          "ERR_DPOP_ALG_NOT_ALLOWED",
          "the DPoP proof names a critical header that is not supported",
        );
      }
      if (header.b64 === undefined) throw malformed();
    }
    if (crit.includes("b64")) {
      if (typeof header.b64 !== "boolean") throw malformed();
      unencoded = !header.b64;
    }
  }
  const alg = header.alg;
  if (typeof alg !== "string" || alg === "") throw malformed();
  if (!algorithms.has(alg)) {
    throw invalidProof(
      "ERR_DPOP_ALG_NOT_ALLOWED",
      `DPoP proof alg must be one of ${[...algorithms].join(" ")}`,
    );
  }
  return { header: header as ProofHeader, unencoded };
}

/** An unencoded payload must be ASCII to be signed in the compact form (checked before the key). */
export function checkUnencodedPayload(payload: string): void {
  if (NON_ASCII.test(payload)) throw malformed();
}

/**
 * What is checked between the key and the signature: the signing input is ASCII and the signature
 * is base64url.
 * @throws InvalidDpopProofError `ERR_DPOP_MALFORMED`
 */
export function checkEncoding(parts: ProofParts): void {
  if (NON_ASCII.test(parts.payload)) throw malformed();
  if (!BASE64URL.test(parts.signature) || parts.signature.length % 4 === 1) throw malformed();
}

/** RFC 8725 §3.11: `typ` compared as a media type, `application/` optional, case-insensitive. */
function isDpopTyp(typ: unknown): boolean {
  if (typeof typ !== "string") return false;
  const lower = typ.toLowerCase();
  return typ.includes("/") ? lower === "application/dpop+jwt" : lower === "dpop+jwt";
}

function checkNumericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value !== undefined && typeof value !== "number") throw malformed();
  return value as number | undefined;
}

/**
 * The claims of a proof whose signature verified: a JSON object, `typ` `dpop+jwt` (RFC 9449 §4.3
 * step 4), `iat` a number when present, `nbf` not in the future and `exp` not past (without
 * tolerance) when present.
 * @throws InvalidDpopProofError `ERR_DPOP_MALFORMED`, `ERR_DPOP_TYP`
 */
export function proofClaims(
  parts: ProofParts,
  decode: (text: string) => string | undefined,
  nowSeconds: number,
): Record<string, unknown> {
  if (parts.unencoded) throw malformed();
  const claims = parseObject(decodeSegment(parts.payload, decode));
  if (claims === undefined) throw malformed();
  if (!isDpopTyp(parts.header.typ))
    throw invalidProof("ERR_DPOP_TYP", 'the DPoP proof typ must be "dpop+jwt"');
  checkNumericDate(claims, "iat");
  const nbf = checkNumericDate(claims, "nbf");
  if (nbf !== undefined && nbf > nowSeconds) throw malformed();
  const exp = checkNumericDate(claims, "exp");
  if (exp !== undefined && exp <= nowSeconds) throw malformed();
  return claims;
}
