import type { JWK } from "jose";

/** Asymmetric JWS algorithms m2m-kit verifies. HMAC and `none` are never accepted. */
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
  "EdDSA",
] as const;

export type VerifyAlgorithm = (typeof ASYMMETRIC_ALGS)[number];

const EC_CURVES: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/** RFC 7518 §6 / RFC 8037: does this JWK (from a JWKS) fit a token signed with `alg`? */
export function jwkFitsAlg(jwk: JWK, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify")))
    return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.d !== undefined) return false;
  switch (alg.slice(0, 2)) {
    case "RS":
    case "PS":
      // At least 2048-bit moduli, as jose requires.
      return (
        jwk.kty === "RSA" && typeof jwk.n === "string" && jwk.n.length >= 342 && typeof jwk.e === "string"
      );
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
