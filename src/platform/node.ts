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

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

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
    if (!BASE64URL.test(signature)) return false;
    const hash = HASH[alg];
    if (hash === undefined) return false;
    return verify(
      hash,
      Buffer.from(signingInput, "latin1"),
      key as KeyObject,
      Buffer.from(signature, "base64url"),
    );
  },
  decodeToString(text) {
    if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
    try {
      return decoder.decode(Buffer.from(text, "base64url"));
    } catch {
      return undefined;
    }
  },
};
