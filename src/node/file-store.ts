import { randomBytes } from "node:crypto";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TokenLease, TokenStore, TokenWriteContext } from "../client/store.js";
import type { StoredToken } from "../client/token.js";
import { checkOptionNames } from "../lib/option-names.js";
import {
  checkEncryptionKey,
  createTokenSealer,
  readStoredToken,
  type TokenSealer,
} from "../lib/token-crypto.js";
import { withFileLock } from "./file-lock.js";
import { inspectPlace, PlaceRefused, readPlacedFile } from "./file-place.js";
import { empty, type FileData, type FileEntry, plausible } from "./file-store-format.js";
import {
  defaultDirectory,
  FILE_TOKEN_STORE_OPTION_NAMES,
  type FileStoreEvent,
  type FileTokenStoreOptions,
  LEASE_OPTION_NAMES,
  positive,
} from "./file-store-options.js";

export type { FileStoreEvent, FileTokenStoreOptions } from "./file-store-options.js";

const WHERE = "new FileTokenStore()";

interface LocalEntry {
  token: StoredToken & { obtainedAt: number };
  /** When the file last confirmed it (ms since the epoch); 0 when the file kept another entry. */
  checkedAt: number;
  /** Not in the file (the write failed, or the file is refused): kept when the file has nothing. */
  unsynced: boolean;
}

/** An in-process entry older than this (ms) is read again from the file before use. */
const UNCONFIRMED_MS = 1_000;

/**
 * A {@link TokenStore} in one file, shared by every process of one host: CLIs and cron jobs whose
 * every run is a new process reuse a token across runs, and concurrent processes fetch one token
 * per key per lifetime (the same lease protocol as `m2m-kit/redis`).
 *
 * The file is written atomically (a temporary file, then `rename`), with mode 0600; every
 * read-modify-write holds a lock file (`<path>.lock`, created exclusively), taken over when its
 * process is gone or it is older than `staleLockMs`. A file or folder owned by another user or
 * writable by group or others is refused (`store_refused`; memory only). What is read back is checked
 * as a fresh token response would be; a refused entry is a miss that the next write replaces. Writes
 * are ordered by when the token was obtained. An in-process copy older than a second is read again
 * from the file, so an `invalidate` in another process reaches this one within a second. File errors
 * never fail `getToken`: the client then fetches on its own.
 *
 * @throws TypeError on a bad option, naming it.
 * @example
 * ```ts
 * import { FileTokenStore } from "m2m-kit/node";
 * const store = new FileTokenStore({ encryptionKey: process.env.M2M_CACHE_KEY });
 * const client = new ClientCredentialsClient({ issuer, clientId, clientSecret, store });
 * ```
 */
export class FileTokenStore implements TokenStore {
  /** The file this store keeps its tokens in. */
  readonly path: string;
  readonly lease: TokenLease | undefined;
  /**
   * A keyed hash of a client secret's digest for the client's cache keys (HMAC-SHA-256 under a key
   * derived from `encryptionKey`). Absent without `encryptionKey` (the client then uses PBKDF2).
   */
  readonly credentialFingerprint?: (digest: string) => Promise<string>;
  readonly #sealer: TokenSealer;
  readonly #staleLockMs: number;
  readonly #ownerUid: number | undefined;
  readonly #onEvent: ((event: FileStoreEvent) => void) | undefined;
  readonly #l1 = new Map<string, LocalEntry>();
  readonly #names = new Map<string, Promise<string>>();
  /** The place check, once it passed; a refusal is kept in `#refused`. */
  #placeChecked: Promise<void> | undefined;
  #refused = false;

  constructor(options: FileTokenStoreOptions = {}) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    checkOptionNames(options, [FILE_TOKEN_STORE_OPTION_NAMES], WHERE);
    if (options.path !== undefined && (typeof options.path !== "string" || options.path === "")) {
      throw new TypeError("path must be a non-empty string");
    }
    if (
      options.directory !== undefined &&
      (typeof options.directory !== "string" || options.directory === "")
    ) {
      throw new TypeError("directory must be a non-empty string");
    }
    this.path = options.path ?? join(options.directory ?? defaultDirectory(), "m2m-tokens.json");
    if (options.encryptionKey !== null) checkEncryptionKey(options.encryptionKey);
    this.#sealer = createTokenSealer(options.encryptionKey ?? undefined);
    const sealer = this.#sealer;
    if (sealer.fingerprint)
      this.credentialFingerprint = (digest) => sealer.fingerprint?.(digest) as Promise<string>;
    this.#staleLockMs = positive(options.staleLockMs, "staleLockMs", 5_000);
    if (
      options.ownerUid !== undefined &&
      (typeof options.ownerUid !== "number" || !Number.isInteger(options.ownerUid) || options.ownerUid < 0)
    ) {
      throw new TypeError("ownerUid must be a non-negative integer (a user id)");
    }
    this.#ownerUid = options.ownerUid ?? process.getuid?.();
    if (options.onEvent !== undefined && typeof options.onEvent !== "function") {
      throw new TypeError("onEvent must be a function");
    }
    this.#onEvent = options.onEvent;
    const lease = options.lease ?? {};
    if (lease !== false && (typeof lease !== "object" || lease === null)) {
      throw new TypeError("lease must be an object or false");
    }
    checkOptionNames(lease, [LEASE_OPTION_NAMES], WHERE, "lease.");
    this.lease =
      lease === false
        ? undefined
        : {
            ttlMs: positive(lease.ttlMs, "lease.ttlMs", 10_000),
            waitTimeoutMs: positive(lease.waitTimeoutMs, "lease.waitTimeoutMs", 15_000),
            acquire: (key, ttlMs) => this.#acquire(key, ttlMs),
          };
  }

  /**
   * The token under `key`: from this process's memory before its refresh window while the file
   * confirmed it less than a second ago, else read from the file (decrypted when `encryptionKey` is
   * set) and checked. An unreadable file is a miss, not a failure.
   */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    const local = this.#l1.get(key);
    const now = Date.now();
    if (
      local &&
      now < local.token.refreshAt &&
      now < local.token.expiresAt &&
      (this.#refused || (local.checkedAt !== 0 && now - local.checkedAt < UNCONFIRMED_MS))
    ) {
      return local.token;
    }
    return this.#read(key);
  }

  async set(key: string, token: StoredToken, context?: TokenWriteContext): Promise<void> {
    const now = Date.now();
    const stored = { ...token, obtainedAt: token.obtainedAt ?? now };
    const local = this.#l1.get(key);
    const entry: LocalEntry = { token: stored, checkedAt: now, unsynced: true };
    if (!local || local.token.obtainedAt <= stored.obtainedAt) this.#l1.set(key, entry);
    try {
      const name = await this.#name(key);
      const value = await this.#sealer.seal(JSON.stringify(stored), name);
      const fingerprint = await this.#fingerprint(stored.accessToken);
      const groups = await Promise.all((context?.groups ?? []).map((g) => this.#name(`group\n${g}`)));
      let written = false;
      await this.#update((data) => {
        const current = data.entries[name];
        // Never replace a token obtained at the same time or later (unless no client wrote it).
        if (plausible(current, Date.now()) && current.o >= stored.obtainedAt) return false;
        data.entries[name] = {
          v: value,
          o: stored.obtainedAt,
          e: stored.expiresAt,
          f: fingerprint,
          g: groups,
        };
        written = true;
        return true;
      });
      entry.unsynced = false;
      // The file kept another entry: the next use reads it.
      if (!written) entry.checkedAt = 0;
    } catch {
      // The file is out of reach or refused: this process keeps its token in memory.
    }
  }

  async delete(key: string, condition?: { accessToken?: string }): Promise<void> {
    const accessToken = condition?.accessToken;
    if (accessToken === undefined || this.#l1.get(key)?.token.accessToken === accessToken)
      this.#l1.delete(key);
    try {
      const name = await this.#name(key);
      const fingerprint = accessToken === undefined ? undefined : await this.#fingerprint(accessToken);
      await this.#update((data) => {
        const current = data.entries[name];
        if (!current || (fingerprint !== undefined && current.f !== fingerprint)) return false;
        delete data.entries[name];
        return true;
      });
    } catch {
      // Nothing to drop that another process could read.
    }
  }

  async deleteGroup(group: string): Promise<void> {
    this.#l1.clear();
    try {
      const name = await this.#name(`group\n${group}`);
      await this.#update((data) => {
        let changed = false;
        for (const [entryName, entry] of Object.entries(data.entries)) {
          if (Array.isArray(entry.g) && entry.g.includes(name)) {
            delete data.entries[entryName];
            changed = true;
          }
        }
        return changed;
      });
    } catch {
      // As for delete.
    }
  }

  #name(value: string): Promise<string> {
    let name = this.#names.get(value);
    if (!name) {
      name = this.#sealer.name(value);
      if (this.#names.size > 1000) this.#names.clear();
      this.#names.set(value, name);
    }
    return name;
  }

  #fingerprint(accessToken: string): Promise<string> {
    return this.#sealer.name(`fingerprint\n${accessToken}`);
  }

  async #read(key: string): Promise<StoredToken | undefined> {
    const startedAt = Date.now();
    let remote: (StoredToken & { obtainedAt: number }) | undefined;
    try {
      const name = await this.#name(key);
      const entry = (await this.#load()).entries[name];
      if (entry) remote = await this.#open(name, entry);
    } catch {
      // Unreadable or refused: this process's own copy, unconfirmed.
      const local = this.#l1.get(key);
      return local && Date.now() < local.token.expiresAt ? local.token : undefined;
    }
    const local = this.#l1.get(key);
    let best: LocalEntry | undefined;
    if (remote) {
      best =
        local && local.token.obtainedAt > remote.obtainedAt
          ? local
          : { token: remote, checkedAt: startedAt, unsynced: false };
    } else {
      // Not in the file: dropped by another process (invalidate), unless it never got there.
      best = local?.unsynced ? local : undefined;
    }
    if (best) {
      best.checkedAt = startedAt;
      this.#l1.set(key, best);
    } else {
      this.#l1.delete(key);
    }
    return best && Date.now() < best.token.expiresAt ? best.token : undefined;
  }

  /** The entry's token when it passes the checks; a refused entry is removed while unchanged. */
  async #open(name: string, entry: FileEntry): Promise<(StoredToken & { obtainedAt: number }) | undefined> {
    let refused: string;
    try {
      const read = readStoredToken(await this.#sealer.open(entry.v, name), Date.now());
      if ("token" in read) {
        const token = read.token as StoredToken & { obtainedAt: number };
        if (token.obtainedAt === entry.o && token.expiresAt === entry.e) return token;
        refused = "plain fields differ from the value";
      } else {
        refused = read.refused;
      }
    } catch {
      refused = this.#sealer.encrypted ? "not sealed with this encryptionKey" : "not a stored token";
    }
    this.#emit({ type: "entry_refused", reason: refused });
    await this.#update((data) => {
      if (data.entries[name]?.v !== entry.v) return false;
      delete data.entries[name];
      return true;
    }).catch(() => {});
    return undefined;
  }

  async #acquire(key: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    const name = await this.#name(key);
    const id = randomBytes(16).toString("base64url");
    let taken = false;
    await this.#update((data) => {
      const current = data.leases[name];
      const now = Date.now();
      // A lease no client can have written (no time, or too far ahead) is taken over.
      if (
        current &&
        typeof current.until === "number" &&
        current.until > now &&
        current.until <= now + ttlMs * 10
      ) {
        return false;
      }
      data.leases[name] = { id, until: now + ttlMs };
      taken = true;
      return true;
    });
    if (!taken) return undefined;
    return async () => {
      try {
        await this.#update((data) => {
          if (data.leases[name]?.id !== id) return false; // compare-and-delete: only our own lease
          delete data.leases[name];
          return true;
        });
      } catch {
        // The lease expires on its own.
      }
    };
  }

  async #load(): Promise<FileData> {
    await this.#checkPlace();
    let text: string | undefined;
    try {
      text = await readPlacedFile(this.path, this.#ownerUid);
    } catch (error) {
      // Replaced since it was checked (a link, a named pipe, another user's file): refused from now on.
      if (error instanceof PlaceRefused) this.#refuse(error);
      throw error;
    }
    if (text === undefined) return empty();
    try {
      const data = JSON.parse(text) as FileData;
      if (
        data?.version !== 2 ||
        typeof data.entries !== "object" ||
        data.entries === null ||
        typeof data.leases !== "object" ||
        data.leases === null
      ) {
        return empty(); // another version's file, or damaged: replaced by the next write
      }
      return data;
    } catch {
      return empty(); // a damaged file is replaced by the next write
    }
  }

  /** Read-modify-write under the lock; `change` returns false when there is nothing to write. */
  async #update(change: (data: FileData) => boolean): Promise<void> {
    await this.#withLock(async () => {
      const data = await this.#load();
      const now = Date.now();
      let pruned = false;
      for (const [name, entry] of Object.entries(data.entries)) {
        if (!plausible(entry, now)) {
          delete data.entries[name];
          pruned = true;
        }
      }
      for (const [name, lease] of Object.entries(data.leases)) {
        if (typeof lease?.until !== "number" || lease.until <= now) {
          delete data.leases[name];
          pruned = true;
        }
      }
      if (!change(data) && !pruned) return;
      const temporary = `${this.path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(temporary, JSON.stringify(data), { mode: 0o600 });
      await rename(temporary, this.path);
    });
  }

  /**
   * Like ssh with its keys: the folder and the file (when it exists) must be owned by `ownerUid` and
   * not writable by group or others, and be a plain folder and file, under folders no other user can
   * move it out of. Checked once (the file again on each read); a refusal is reported once and the
   * store keeps to memory from then on.
   */
  #checkPlace(): Promise<void> {
    if (this.#refused) return Promise.reject(new Error("the token file was refused"));
    this.#placeChecked ??= inspectPlace(this.path, this.#ownerUid).catch((error: unknown) => {
      this.#placeChecked = undefined;
      if (error instanceof PlaceRefused) this.#refuse(error);
      throw error;
    });
    return this.#placeChecked;
  }

  /** Reported once; from then on the store keeps tokens in this process's memory only. */
  #refuse(error: PlaceRefused): void {
    if (this.#refused) return;
    this.#refused = true;
    this.#emit({ type: "store_refused", path: error.path, reason: error.message });
  }

  async #withLock<T>(work: () => Promise<T>): Promise<T> {
    await this.#checkPlace();
    return withFileLock(`${this.path}.lock`, this.#staleLockMs, work);
  }

  #emit(event: FileStoreEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A failing listener must not break token delivery.
    }
  }
}
