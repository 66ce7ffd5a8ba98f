import { base64url, flattenedVerify, importJWK, type JWK } from "jose";
import { checkImportedKey } from "../verify/algorithms.js";
import type { Platform } from "./types.js";

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const decoder = /* @__PURE__ */ new TextDecoder("utf-8", { fatal: true });
const encoder = /* @__PURE__ */ new TextEncoder();

export const platform: Platform<CryptoKey> = {
  async importKey(jwk: JWK, alg: string) {
    const key = (await importJWK(jwk, alg)) as CryptoKey;
    const algorithm = key.algorithm as { name: string; modulusLength?: number; namedCurve?: string };
    checkImportedKey(alg, {
      kty: algorithm.name.startsWith("RS") ? "RSA" : algorithm.name === "ECDSA" ? "EC" : "OKP",
      modulusBits: algorithm.modulusLength,
      curve: algorithm.name === "Ed25519" ? "Ed25519" : algorithm.namedCurve,
    });
    return key;
  },
  async verify(alg, key, signingInput, signature) {
    const dot = signingInput.indexOf(".");
    try {
      await flattenedVerify(
        { protected: signingInput.slice(0, dot), payload: signingInput.slice(dot + 1), signature },
        key,
        { algorithms: [alg] },
      );
      return true;
    } catch {
      return false;
    }
  },
  decodeToString(text) {
    if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
    try {
      return decoder.decode(base64url.decode(text));
    } catch {
      return undefined;
    }
  },
  async sha256(text) {
    return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
  },
};
