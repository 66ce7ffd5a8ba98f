import { constants, createHash, createPublicKey, type JsonWebKey, type KeyObject, verify } from "node:crypto";
import type { JWK } from "jose";
import { checkImportedKey } from "../verify/algorithms.js";
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

const NODE_CURVES: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};

type NodeKey = KeyObject | { key: KeyObject };

function keyInput(alg: string, key: KeyObject): NodeKey {
  if (alg.startsWith("PS")) {
    return {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    } as NodeKey;
  }
  if (alg.startsWith("ES")) return { key, dsaEncoding: "ieee-p1363" } as NodeKey;
  return key;
}

// Verification is synchronous, so one scratch area per process serves every call: decoding into
// memory that stays warm instead of allocating a Buffer per segment keeps the crypto call itself
// as fast as it is in a tight loop.
let scratch = Buffer.allocUnsafe(32 * 1024);

function room(bytes: number): Buffer {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafe(bytes);
  return scratch;
}

export const platform: Platform<NodeKey> = {
  importKey(jwk: JWK, alg: string) {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
    const type = key.asymmetricKeyType;
    const details = key.asymmetricKeyDetails ?? {};
    checkImportedKey(alg, {
      kty: type === "rsa" ? "RSA" : type === "ec" ? "EC" : type === "ed25519" ? "OKP" : String(type),
      modulusBits: details.modulusLength,
      curve: type === "ed25519" ? "Ed25519" : NODE_CURVES[details.namedCurve ?? ""],
    });
    return keyInput(alg, key);
  },
  verify(alg, key, signingInput, signature) {
    const hash = HASH[alg];
    if (hash === undefined) return false;
    // Node's base64url decoder also takes "+", "/" and "=" and skips other characters: refuse the
    // first three, and a decoded length that shows a skipped character, so one signature has one spelling.
    if (signature.indexOf("+") !== -1 || signature.indexOf("/") !== -1 || signature.indexOf("=") !== -1)
      return false;
    const buffer = room(signingInput.length + signature.length);
    const dataLength = buffer.write(signingInput, 0, "latin1");
    const signatureLength = buffer.write(signature, dataLength, "base64url");
    if (signatureLength !== (signature.length * 3) >>> 2) return false;
    return verify(
      hash,
      buffer.subarray(0, dataLength),
      key as KeyObject,
      buffer.subarray(dataLength, dataLength + signatureLength),
    );
  },
  decodeToString(text) {
    // Header and payload are covered by the signature as they are spelled, so a lenient decode
    // cannot be abused; it only has to fail safely on garbage (the JSON parse does).
    if (text.length % 4 === 1) return undefined;
    const buffer = room(text.length);
    return buffer.toString("utf8", 0, buffer.write(text, 0, "base64url"));
  },
  sha256(text) {
    return createHash("sha256").update(text, "utf8").digest("base64url");
  },
};
