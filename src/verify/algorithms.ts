import type { JWK } from "jose";

/**
 * Asymmetric JWS algorithms m2m-kit verifies. HMAC and `none` are never accepted. `Ed25519` is the
 * fully specified name RFC 9864 registers; `EdDSA` (RFC 8037, deprecated by RFC 9864) is still
 * accepted with Ed25519 keys.
 */
export const ASYMMETRIC_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "Ed25519",
  "EdDSA",
] as const;

/** A JWS `alg` the verifier accepts: one of {@link ASYMMETRIC_ALGS}. */
export type VerifyAlgorithm = (typeof ASYMMETRIC_ALGS)[number];

/** Smallest RSA modulus accepted, in bits (as jose requires), measured on the imported key. */
export const MIN_RSA_MODULUS_BITS = 2048;

/** The curve each EC algorithm is defined on (RFC 7518 §3.4). */
export const EC_CURVES: Readonly<Record<string, string>> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/**
 * RFC 7518 §6 / RFC 8037 / RFC 9864: does this JWK (from a JWKS) fit a token signed with `alg`? The
 * key's real strength (RSA modulus length, curve) is checked again on the imported key.
 */
export function jwkFitsAlg(jwk: JWK, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify")))
    return false;
  if (jwk.alg !== undefined && jwk.alg !== alg && !(isEd25519(alg) && isEd25519(jwk.alg))) return false;
  if (jwk.d !== undefined) return false;
  switch (alg.slice(0, 2)) {
    case "RS":
    case "PS":
      return jwk.kty === "RSA" && typeof jwk.n === "string" && typeof jwk.e === "string";
    case "ES":
      return (
        jwk.kty === "EC" &&
        jwk.crv === EC_CURVES[alg] &&
        typeof jwk.x === "string" &&
        typeof jwk.y === "string"
      );
    case "Ed":
      return jwk.kty === "OKP" && jwk.crv === "Ed25519" && typeof jwk.x === "string";
    default:
      return false;
  }
}

/** `EdDSA` with an Ed25519 key and `Ed25519` name the same signature (RFC 9864 §2). */
function isEd25519(alg: string): boolean {
  return alg === "Ed25519" || alg === "EdDSA";
}

/** What the runtime says of an imported public key. */
export interface ImportedKeyFacts {
  /** `RSA`, `EC` or `OKP`. */
  kty: string;
  /** RSA: the modulus length in bits. */
  modulusBits?: number;
  /** EC: `P-256`, `P-384`, `P-521`; OKP: `Ed25519`. */
  curve?: string;
}

/**
 * Checks the imported key, not the JWK's text: an RSA modulus of at least
 * {@link MIN_RSA_MODULUS_BITS} bits (a short modulus padded with zero bytes is still short), the
 * curve of `alg` for EC and Ed25519 for OKP. Throws a `TypeError` the JWKS turns into
 * `ERR_JWKS_NO_MATCHING_KEY`.
 */
export function checkImportedKey(alg: string, facts: ImportedKeyFacts): void {
  switch (alg.slice(0, 2)) {
    case "RS":
    case "PS":
      if (facts.kty !== "RSA" || (facts.modulusBits ?? 0) < MIN_RSA_MODULUS_BITS)
        throw new TypeError(`${alg} needs an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits`);
      return;
    case "ES":
      if (facts.kty !== "EC" || facts.curve !== EC_CURVES[alg])
        throw new TypeError(`${alg} needs an EC key on ${EC_CURVES[alg]}`);
      return;
    default:
      if (facts.kty !== "OKP" || facts.curve !== "Ed25519")
        throw new TypeError(`${alg} needs an Ed25519 key`);
  }
}
