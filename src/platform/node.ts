import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import type { JWK } from "jose";
import type { Platform } from "./types.js";

const HASH: Record<string, string | null> = {
  RS256: "sha256",
  RS384: "sha384",
  RS512: "sha512",
  PS256: "sha256",
  PS384: "sha384",
  PS512: "sha512",
  ES256: "sha256",
  ES384: "sha384",
  ES512: "sha512",
  EdDSA: null,
  Ed25519: null,
};

function keyInput(alg: string, key: KeyObject) {
  if (alg.startsWith("PS")) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  }
  if (alg.startsWith("ES")) return { key, dsaEncoding: "ieee-p1363" as const };
  return key;
}

export const platform: Platform<KeyObject | { key: KeyObject }> = {
  importKey(jwk: JWK, alg: string) {
    const key = createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" });
    return keyInput(alg, key) as KeyObject | { key: KeyObject };
  },
  verify(alg, key, signingInput, signature) {
    const hash = HASH[alg];
    if (hash === undefined) return false;
    // Node's base64url decoder also takes "+", "/" and "=" and skips other characters: refuse the
    // first three, and a decoded length that shows a skipped character, so one signature has one spelling.
    if (signature.indexOf("+") !== -1 || signature.indexOf("/") !== -1 || signature.indexOf("=") !== -1)
      return false;
    const bytes = Buffer.from(signature, "base64url");
    if (bytes.length !== (signature.length * 3) >>> 2) return false;
    return verify(hash, Buffer.from(signingInput, "latin1"), key as KeyObject, bytes);
  },
  decodeToString(text) {
    // Header and payload are covered by the signature as they are spelled, so a lenient decode
    // cannot be abused; it only has to fail safely on garbage (the JSON parse does).
    if (text.length % 4 === 1) return undefined;
    return Buffer.from(text, "base64url").toString("utf8");
  },
};
