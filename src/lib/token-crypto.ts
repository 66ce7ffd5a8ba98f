/**
 * Names, fingerprints and sealed values for shared token stores (Redis, files), on WebCrypto.
 * With a key: names and fingerprints are HMAC-SHA-256 (a guessed client id or audience cannot be
 * confirmed from a name) and values are AES-256-GCM with the entry's name as additional data (a
 * value moved to another name does not open). Without a key: SHA-256 names, plain JSON values.
 */

import { checkStoredToken, parseStoredToken } from "../client/stored-token-check.js";
import type { StoredToken } from "../client/token.js";

const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder();

/**
 * Key of a shared token store (`encryptionKey`): a string of at least 32 characters or at least 32
 * bytes (shorter is a `TypeError`), the same in every process that shares the store. AES-256-GCM and
 * HMAC-SHA-256 keys are derived from it with HKDF-SHA-256. Keep it in a secret manager, as you would
 * the client secret; a 32-byte random value (`openssl rand -base64 32`) is a good one.
 */
export type EncryptionKeyInput = string | Uint8Array;

export interface TokenSealer {
  readonly encrypted: boolean;
  /** 22 base64url characters (128 bits) naming `value`. */
  name(value: string): Promise<string>;
  seal(plaintext: string, name: string): Promise<string>;
  /** Throws when the value was not sealed with this key for this name. */
  open(sealed: string, name: string): Promise<string>;
  /** HMAC-SHA-256 of `value` under a key of its own (credential fingerprints); absent without a key. */
  fingerprint?(value: string): Promise<string>;
}

export function checkEncryptionKey(key: unknown, option = "encryptionKey"): void {
  if (key === undefined) return;
  if (typeof key === "string") {
    if (key.length < 32) throw new TypeError(`${option} must be at least 32 characters`);
    return;
  }
  if (key instanceof Uint8Array) {
    if (key.byteLength < 32) throw new TypeError(`${option} must be at least 32 bytes`);
    return;
  }
  throw new TypeError(`${option} must be a string or a Uint8Array`);
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function derive(ikm: CryptoKey, info: string, algorithm: HmacImportParams | AesKeyAlgorithm) {
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: encoder.encode(info) },
    ikm,
    algorithm.name === "HMAC"
      ? { name: "HMAC", hash: "SHA-256", length: 256 }
      : { name: "AES-GCM", length: 256 },
    false,
    algorithm.name === "HMAC" ? ["sign"] : ["encrypt", "decrypt"],
  );
}

/** Builds the sealer for a store; `key` already checked with {@link checkEncryptionKey}. */
export function createTokenSealer(key: EncryptionKeyInput | undefined): TokenSealer {
  if (key === undefined) {
    return {
      encrypted: false,
      async name(value) {
        const digest = await crypto.subtle.digest("SHA-256", encoder.encode(value));
        return toBase64Url(new Uint8Array(digest, 0, 16));
      },
      async seal(plaintext) {
        return plaintext;
      },
      async open(sealed) {
        return sealed;
      },
    };
  }
  const bytes = typeof key === "string" ? encoder.encode(key) : new Uint8Array(key);
  const keys = crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"]).then(async (ikm) => ({
    mac: await derive(ikm, "m2m-kit token store names", { name: "HMAC", hash: "SHA-256" }),
    aes: await derive(ikm, "m2m-kit token store values", { name: "AES-GCM", length: 256 }),
    credential: await derive(ikm, "m2m-kit credential fingerprints", { name: "HMAC", hash: "SHA-256" }),
  }));
  keys.catch(() => {});
  return {
    encrypted: true,
    async name(value) {
      const mac = await crypto.subtle.sign("HMAC", (await keys).mac, encoder.encode(value));
      return toBase64Url(new Uint8Array(mac, 0, 16));
    },
    async seal(plaintext, name) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(name) },
        (await keys).aes,
        encoder.encode(plaintext),
      );
      const out = new Uint8Array(12 + sealed.byteLength);
      out.set(iv);
      out.set(new Uint8Array(sealed), 12);
      return `v1.${toBase64Url(out)}`;
    },
    async open(sealed, name) {
      if (!sealed.startsWith("v1.")) throw new Error("not a sealed value");
      const bytes = fromBase64Url(sealed.slice(3));
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: encoder.encode(name) },
        (await keys).aes,
        bytes.subarray(12),
      );
      return decoder.decode(plain);
    },
    async fingerprint(value) {
      const mac = await crypto.subtle.sign("HMAC", (await keys).credential, encoder.encode(value));
      return toBase64Url(new Uint8Array(mac));
    },
  };
}

/** 128 random bits, base64url: lease holder ids. */
export function randomId(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * A stored token read back from shared storage, checked as a fresh token response would be
 * (`checkStoredToken`, `obtainedAt` required), or why it is refused.
 */
export function readStoredToken(json: string, now: number): { token: StoredToken } | { refused: string } {
  const token = parseStoredToken(json);
  if (!token) return { refused: "not a stored token" };
  const refused = checkStoredToken(token, { now, requireObtainedAt: true });
  return refused === undefined ? { token } : { refused };
}
