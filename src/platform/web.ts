import { base64url, flattenedVerify, importJWK, type JWK } from "jose";
import type { Platform } from "./types.js";

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

export const platform: Platform<CryptoKey> = {
  async importKey(jwk: JWK, alg: string) {
    return (await importJWK(jwk, alg)) as CryptoKey;
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
};
