/**
 * Key sets and discovery documents kept in a key-value store that many isolates or processes share
 * (DESIGN.md "Shared state across requests"). An entry is the document as it was fetched, with
 * when it was fetched, authenticated with HMAC-SHA-256 under `integrityKey` and bound to its kind
 * and to the URI or issuer it belongs to. What is read back is untrusted input: a bad MAC, another
 * name, a malformed or oversized document is a miss, reported, never a trusted key.
 */
import { MAX_RESPONSE_BYTES } from "../lib/http.js";
import { requestScopedIo } from "../lib/runtime.js";
import { checkEncryptionKey, type EncryptionKeyInput } from "../lib/token-crypto.js";
import { emitTo, type VerifierEventListener } from "./events.js";

/**
 * A key-value store shared by the isolates or processes that verify tokens: Workers KV, the Cache
 * API (`cacheApiStore` from `m2m-kit/web`), Redis, or a `Map` in tests. Values are strings of at
 * most about 1 MiB; keys are at most 60 ASCII characters (`m2m-kit:jwks:` or `m2m-kit:discovery:`
 * and a SHA-256, not secret). Either method may answer synchronously or with a promise; a method
 * that throws, rejects or does not answer within `jwks.storeTimeoutMs` is bypassed (a
 * `store_failed` event), never a failed verification.
 *
 * @example
 * ```ts
 * // Workers KV (expirationTtl has a minimum of 60 s; ttlSeconds is never below it)
 * const kvStore: KeyValueStore = {
 *   get: (key) => env.JWKS_KV.get(key),
 *   set: (key, value, { ttlSeconds }) => env.JWKS_KV.put(key, value, { expirationTtl: ttlSeconds }),
 * };
 * // node-redis
 * const redisStore: KeyValueStore = {
 *   get: (key) => redis.get(key),
 *   set: (key, value, { ttlSeconds }) => redis.set(key, value, { EX: ttlSeconds }),
 * };
 * // a Map (tests, or verifiers of one process)
 * const map = new Map<string, string>();
 * const mapStore: KeyValueStore = { get: (key) => map.get(key), set: (key, value) => map.set(key, value) };
 * ```
 */
export interface KeyValueStore {
  /** The value stored under `key`; `undefined` or `null` when there is none (or it expired). */
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  /**
   * Stores `value` under `key` for `ttlSeconds` (at least 60: the longer of a minute and
   * `jwks.staleMaxAgeMs`). What it returns (a promise is awaited) is otherwise ignored.
   */
  set(key: string, value: string, options: { ttlSeconds: number }): unknown;
}

/** What an entry holds: a key set (by its JWKS URI) or a discovery document (by its issuer). */
export type StoredDocumentKind = "jwks" | "discovery";

/** Default of `jwks.storeTimeoutMs`. */
export const DEFAULT_STORE_TIMEOUT_MS = 500;

/** An entry from the future by more than this is refused (isolates' clocks agree far better). */
const FUTURE_TOLERANCE_MS = 5_000;
/** Workers KV's smallest `expirationTtl`. */
const MIN_TTL_SECONDS = 60;
/** The header of an entry is small; the document is bounded as a response body is. */
const MAX_ENTRY_CHARS = MAX_RESPONSE_BYTES + 4_096;
const FORMAT = "m2m1";

const encoder = /* @__PURE__ */ new TextEncoder();

/** A document read back from the store, checked. */
export interface StoredDocument<T> {
  value: T;
  /** When the writer fetched it, ms since the epoch (authenticated with the document). */
  fetchedAt: number;
  /** The server's `Cache-Control: max-age` when it was fetched, in seconds. */
  maxAgeSeconds: number | undefined;
}

interface EntryHeader {
  kind: StoredDocumentKind;
  for: string;
  fetchedAt: number;
  maxAgeSeconds?: number;
}

class StoreTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/** Runs a store call, bounded: a throw, a rejection or no answer within `timeoutMs` rejects. */
function bounded<T>(call: () => T | Promise<T>, timeoutMs: number): Promise<Awaited<T>> {
  return new Promise<Awaited<T>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreTimeout(timeoutMs)), timeoutMs);
    Promise.resolve()
      .then(call)
      .then(
        (value) => {
          clearTimeout(timer);
          resolve(value as Awaited<T>);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
  });
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The store's key of a document: its kind and a SHA-256 of its URI or issuer (not secret). */
async function storeKeyOf(kind: StoredDocumentKind, subject: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${kind}\n${subject}`));
  return `m2m-kit:${kind}:${toBase64Url(new Uint8Array(digest))}`;
}

/** What the MAC covers: the format, the store key, the header (kind, URI or issuer, time) and the document. */
function macInput(storeKey: string, header: string, body: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${FORMAT}\n${storeKey}\n${header}\n${body}`);
}

/** Options of {@link SharedDocuments}. */
export interface SharedDocumentsOptions {
  store: KeyValueStore;
  integrityKey: EncryptionKeyInput | null;
  timeoutMs: number;
  now: () => number;
  onEvent: VerifierEventListener | undefined;
}

/**
 * Reads and writes documents in a {@link KeyValueStore}. Never throws: a failing store is a miss
 * (`store_failed`), an entry that fails a check is a miss (`store_entry_refused`).
 */
export class SharedDocuments {
  readonly #store: KeyValueStore;
  readonly #integrityKey: EncryptionKeyInput | null;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #onEvent: VerifierEventListener | undefined;
  /** The HMAC key once derived; on Workers each caller derives it until one has (lib/runtime.ts). */
  #macKey: CryptoKey | undefined;
  #deriving: Promise<CryptoKey> | undefined;

  constructor(options: SharedDocumentsOptions) {
    this.#store = options.store;
    this.#integrityKey = options.integrityKey;
    this.#timeoutMs = options.timeoutMs;
    this.#now = options.now;
    this.#onEvent = options.onEvent;
  }

  /**
   * The entry of `kind` for `subject` when it is authentic, bound to them, younger than
   * `maxAgeMs` and `parse` accepts its document (a throw refuses it); `undefined` otherwise.
   */
  async read<T>(
    kind: StoredDocumentKind,
    subject: string,
    maxAgeMs: number,
    parse: (text: string) => T,
  ): Promise<StoredDocument<T> | undefined> {
    const started = this.#now();
    const storeKey = await storeKeyOf(kind, subject);
    let raw: string | null | undefined;
    try {
      raw = await bounded(() => this.#store.get(storeKey), this.#timeoutMs);
    } catch (error) {
      this.#failed("get", kind, subject, started, error);
      return undefined;
    }
    if (raw === undefined || raw === null) return undefined;
    let entry: StoredDocument<T>;
    try {
      entry = await this.#open(raw, storeKey, kind, subject, parse);
    } catch (error) {
      emitTo(this.#onEvent, { type: "store_entry_refused", kind, uri: subject, reason: reasonOf(error) });
      return undefined;
    }
    const ageMs = this.#now() - entry.fetchedAt;
    if (ageMs >= maxAgeMs) return undefined;
    emitTo(this.#onEvent, { type: "store_hit", kind, uri: subject, ageMs });
    return entry;
  }

  /** Writes the document fetched at `fetchedAt`, kept by the store for `ttlSeconds` (at least 60). */
  async write(
    kind: StoredDocumentKind,
    subject: string,
    body: string,
    fetchedAt: number,
    maxAgeSeconds: number | undefined,
    ttlMs: number,
  ): Promise<void> {
    const started = this.#now();
    try {
      const storeKey = await storeKeyOf(kind, subject);
      const entryHeader: EntryHeader = {
        kind,
        for: subject,
        fetchedAt,
        ...(maxAgeSeconds !== undefined && { maxAgeSeconds }),
      };
      const header = JSON.stringify(entryHeader);
      const mac = await this.#mac(storeKey, header, body);
      const value = `${FORMAT}.${mac}.${header}\n${body}`;
      const ttlSeconds = Math.max(MIN_TTL_SECONDS, Math.ceil(ttlMs / 1000));
      await bounded(() => this.#store.set(storeKey, value, { ttlSeconds }), this.#timeoutMs);
    } catch (error) {
      this.#failed("set", kind, subject, started, error);
    }
  }

  async #open<T>(
    raw: unknown,
    storeKey: string,
    kind: StoredDocumentKind,
    subject: string,
    parse: (text: string) => T,
  ): Promise<StoredDocument<T>> {
    if (typeof raw !== "string") throw new Error("the store answered a value that is not a string");
    if (raw.length > MAX_ENTRY_CHARS)
      throw new Error(`the entry is larger than ${MAX_ENTRY_CHARS} characters`);
    const firstDot = raw.indexOf(".");
    const secondDot = raw.indexOf(".", firstDot + 1);
    const newline = raw.indexOf("\n", secondDot + 1);
    if (firstDot < 0 || secondDot < 0 || newline < 0 || raw.slice(0, firstDot) !== FORMAT) {
      throw new Error("not an m2m-kit entry");
    }
    const mac = raw.slice(firstDot + 1, secondDot);
    const header = raw.slice(secondDot + 1, newline);
    const body = raw.slice(newline + 1);
    if (this.#integrityKey !== null) {
      const signature = fromBase64Url(mac);
      const key = await this.#key();
      if (
        signature === undefined ||
        !(await crypto.subtle.verify("HMAC", key, signature, macInput(storeKey, header, body)))
      ) {
        throw new Error("the entry is not authenticated with this integrityKey");
      }
    }
    let parsed: Partial<EntryHeader>;
    try {
      parsed = JSON.parse(header) as Partial<EntryHeader>;
    } catch {
      throw new Error("the entry's header is not JSON");
    }
    // Bound to what it is for: an entry copied from another URI or issuer, or of another kind, is
    // refused even without an integrityKey.
    if (parsed === null || typeof parsed !== "object" || parsed.kind !== kind || parsed.for !== subject) {
      throw new Error(`the entry is not the ${kind} of this ${kind === "jwks" ? "URI" : "issuer"}`);
    }
    const { fetchedAt, maxAgeSeconds } = parsed;
    if (typeof fetchedAt !== "number" || !Number.isFinite(fetchedAt)) {
      throw new Error("the entry has no fetchedAt");
    }
    if (fetchedAt > this.#now() + FUTURE_TOLERANCE_MS) throw new Error("the entry was fetched in the future");
    if (
      maxAgeSeconds !== undefined &&
      (typeof maxAgeSeconds !== "number" || !Number.isFinite(maxAgeSeconds) || maxAgeSeconds < 0)
    ) {
      throw new Error("the entry's maxAgeSeconds is not a non-negative number");
    }
    return { value: parse(body), fetchedAt, maxAgeSeconds };
  }

  async #mac(storeKey: string, header: string, body: string): Promise<string> {
    if (this.#integrityKey === null) return "";
    const mac = await crypto.subtle.sign("HMAC", await this.#key(), macInput(storeKey, header, body));
    return toBase64Url(new Uint8Array(mac));
  }

  #key(): Promise<CryptoKey> {
    if (this.#macKey) return Promise.resolve(this.#macKey);
    if (this.#deriving && !requestScopedIo) return this.#deriving;
    const deriving = deriveMacKey(this.#integrityKey as EncryptionKeyInput).then((key) => {
      this.#macKey ??= key;
      return key;
    });
    if (!requestScopedIo) {
      this.#deriving = deriving;
      deriving.catch(() => {
        if (this.#deriving === deriving) this.#deriving = undefined;
      });
    }
    return deriving;
  }

  #failed(
    operation: "get" | "set",
    kind: StoredDocumentKind,
    subject: string,
    started: number,
    error: unknown,
  ): void {
    emitTo(this.#onEvent, {
      type: "store_failed",
      operation,
      kind,
      uri: subject,
      durationMs: this.#now() - started,
      reason: reasonOf(error),
    });
  }
}

/** HMAC-SHA-256 key derived from `integrityKey` with HKDF-SHA-256, for this use only. */
async function deriveMacKey(integrityKey: EncryptionKeyInput): Promise<CryptoKey> {
  const bytes =
    typeof integrityKey === "string" ? encoder.encode(integrityKey) : new Uint8Array(integrityKey);
  const ikm = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(32),
      info: encoder.encode("m2m-kit key-value store integrity"),
    },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

/** The store options of `jwks`, as the verifier takes them. */
export interface StoreOptions {
  store?: KeyValueStore | undefined;
  integrityKey?: EncryptionKeyInput | null | undefined;
  storeTimeoutMs?: number | undefined;
}

/**
 * Checks `jwks.store`, `jwks.integrityKey` and `jwks.storeTimeoutMs` (a `TypeError` naming the
 * option) and makes the shared documents, or `undefined` without a store.
 */
export function sharedDocumentsFrom(
  options: StoreOptions,
  now: () => number,
  onEvent: VerifierEventListener | undefined,
): SharedDocuments | undefined {
  const { store, integrityKey, storeTimeoutMs } = options;
  if (store === undefined) {
    if (integrityKey !== undefined) throw new TypeError("jwks.integrityKey is used only with jwks.store");
    if (storeTimeoutMs !== undefined) throw new TypeError("jwks.storeTimeoutMs is used only with jwks.store");
    return undefined;
  }
  if (
    typeof store !== "object" ||
    store === null ||
    typeof store.get !== "function" ||
    typeof store.set !== "function"
  ) {
    throw new TypeError(
      "jwks.store must be a key-value store: an object with get(key) and set(key, value, { ttlSeconds })",
    );
  }
  if (integrityKey === undefined) {
    throw new TypeError(
      "jwks.integrityKey is required with jwks.store: a secret of at least 32 characters or bytes, the same wherever the store is read, that authenticates the stored key sets (integrityKey: null stores them unauthenticated: then anyone who can write to the store can plant signing keys)",
    );
  }
  if (integrityKey !== null) checkEncryptionKey(integrityKey, "jwks.integrityKey");
  const timeoutMs = storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError("jwks.storeTimeoutMs must be a positive number of milliseconds");
  }
  return new SharedDocuments({ store, integrityKey, timeoutMs, now, onEvent });
}
