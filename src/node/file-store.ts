import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { TokenLease, TokenStore, TokenWriteContext } from "../client/store.js";
import type { StoredToken } from "../client/token.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import {
  checkEncryptionKey,
  createTokenSealer,
  decodeStoredToken,
  type EncryptionKeyInput,
  type TokenSealer,
} from "../lib/token-crypto.js";

/** Options of {@link FileTokenStore}. */
export interface FileTokenStoreOptions {
  /**
   * The store's file. Default: `m2m-tokens.json` in `directory`, which defaults to
   * `$XDG_CACHE_HOME/m2m-kit` or `~/.cache/m2m-kit`. Created with mode 0600 (its folder 0700).
   */
  path?: string;
  /** Folder of the default file name. */
  directory?: string;
  /**
   * Encrypts values with AES-256-GCM and names entries with HMAC-SHA-256: a secret of at least 32
   * characters or bytes. Without it the file holds tokens in plain JSON (mode 0600 still applies).
   */
  encryptionKey?: EncryptionKeyInput;
  /**
   * The fetch lease (as in `m2m-kit/redis`): `ttlMs` default 10 000, `waitTimeoutMs` default
   * 15 000. `false`: share tokens, but every process fetches on a miss.
   */
  lease?:
    | {
        /** Lease lifetime in ms: a holder that dies blocks the others at most this long. Default 10 000. */
        ttlMs?: number;
        /** How long a caller waits for the holder's token before it fetches on its own, in ms. Default 15 000. */
        waitTimeoutMs?: number;
      }
    | false;
  /**
   * A lock file older than this (ms), or whose process is gone, is taken over. Default 5 000; the lock
   * is held only for one read-modify-write of the file.
   */
  staleLockMs?: number;
}

/** The names of {@link FileTokenStoreOptions}. */
export const FILE_TOKEN_STORE_OPTION_NAMES: OptionNames<FileTokenStoreOptions> = {
  path: true,
  directory: true,
  encryptionKey: true,
  lease: true,
  staleLockMs: true,
};

/** The names of the `lease` option's object form. */
export const LEASE_OPTION_NAMES: OptionNames<Exclude<FileTokenStoreOptions["lease"], false | undefined>> = {
  ttlMs: true,
  waitTimeoutMs: true,
};

const WHERE = "new FileTokenStore()";

interface FileEntry {
  /** Sealed (or plain JSON) StoredToken. */
  v: string;
  /** expiresAt, ms since the epoch. */
  e: number;
  /** Fingerprint of the token. */
  f: string;
  /** Group names. */
  g: string[];
}

interface FileData {
  version: 1;
  entries: Record<string, FileEntry>;
  leases: Record<string, { id: string; until: number }>;
}

const empty = (): FileData => ({ version: 1, entries: {}, leases: {} });

function defaultDirectory(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "m2m-kit");
}

function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive number of milliseconds`);
  }
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A {@link TokenStore} in one file, shared by every process of one host: CLIs and cron jobs whose
 * every run is a new process reuse a token across runs, and concurrent processes fetch one token
 * per key per lifetime (the same lease protocol as `m2m-kit/redis`).
 *
 * The file is written atomically (a temporary file, then `rename`), with mode 0600; every
 * read-modify-write holds a lock file (`<path>.lock`, created exclusively), taken over when its
 * process is gone or it is older than `staleLockMs`. File errors never fail `getToken`: the client
 * then fetches on its own.
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
  readonly #lockPath: string;
  readonly #sealer: TokenSealer;
  readonly #staleLockMs: number;
  readonly #l1 = new Map<string, StoredToken>();
  readonly #names = new Map<string, Promise<string>>();

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
    this.#lockPath = `${this.path}.lock`;
    checkEncryptionKey(options.encryptionKey);
    this.#sealer = createTokenSealer(options.encryptionKey);
    this.#staleLockMs = positive(options.staleLockMs, "staleLockMs", 5_000);
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
   * The token under `key`: from this process's memory before its refresh window, else read from the
   * file (decrypted when `encryptionKey` is set). An unreadable file is a miss, not a failure.
   */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    const local = this.#l1.get(key);
    const now = Date.now();
    if (local && now < local.refreshAt && now < local.expiresAt) return local;
    return this.#read(key);
  }

  async set(key: string, token: StoredToken, context?: TokenWriteContext): Promise<void> {
    const local = this.#l1.get(key);
    if (!local || local.expiresAt <= token.expiresAt) this.#l1.set(key, token);
    try {
      const name = await this.#name(key);
      const value = await this.#sealer.seal(JSON.stringify(token), name);
      const fingerprint = await this.#fingerprint(token.accessToken);
      const groups = await Promise.all((context?.groups ?? []).map((g) => this.#name(`group\n${g}`)));
      await this.#update((data) => {
        const current = data.entries[name];
        // Never replace a token that expires later.
        if (current && current.e >= token.expiresAt) return false;
        data.entries[name] = { v: value, e: token.expiresAt, f: fingerprint, g: groups };
        return true;
      });
    } catch {
      // The file is out of reach: this process keeps its token in memory.
    }
  }

  async delete(key: string, condition?: { accessToken?: string }): Promise<void> {
    const accessToken = condition?.accessToken;
    if (accessToken === undefined || this.#l1.get(key)?.accessToken === accessToken) this.#l1.delete(key);
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
          if (entry.g.includes(name)) {
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
    const local = this.#l1.get(key);
    let remote: StoredToken | undefined;
    try {
      const name = await this.#name(key);
      const entry = (await this.#load()).entries[name];
      if (entry) remote = decodeStoredToken(await this.#sealer.open(entry.v, name));
    } catch {
      remote = undefined;
    }
    const now = Date.now();
    const best = [local, remote]
      .filter((t): t is StoredToken => t !== undefined && now < t.expiresAt)
      .sort((a, b) => b.expiresAt - a.expiresAt)[0];
    if (best) this.#l1.set(key, best);
    else this.#l1.delete(key);
    return best;
  }

  async #acquire(key: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    const name = await this.#name(key);
    const id = randomBytes(16).toString("base64url");
    let taken = false;
    await this.#update((data) => {
      const current = data.leases[name];
      if (current && current.until > Date.now()) return false;
      data.leases[name] = { id, until: Date.now() + ttlMs };
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
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return empty();
      throw error;
    }
    try {
      const data = JSON.parse(text) as FileData;
      if (data?.version !== 1 || typeof data.entries !== "object" || typeof data.leases !== "object") {
        return empty();
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
        if (entry.e <= now) {
          delete data.entries[name];
          pruned = true;
        }
      }
      for (const [name, lease] of Object.entries(data.leases)) {
        if (lease.until <= now) {
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

  async #withLock<T>(work: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + this.#staleLockMs * 2;
    let delay = 2;
    for (;;) {
      try {
        const handle = await open(this.#lockPath, "wx", 0o600);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      if (await this.#lockIsStale()) {
        await unlink(this.#lockPath).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error("the token file stays locked");
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
    try {
      return await work();
    } finally {
      await unlink(this.#lockPath).catch(() => {});
    }
  }

  async #lockIsStale(): Promise<boolean> {
    try {
      const [info, text] = await Promise.all([stat(this.#lockPath), readFile(this.#lockPath, "utf8")]);
      if (Date.now() - info.mtimeMs > this.#staleLockMs) return true;
      const pid = Number.parseInt(text, 10);
      if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
      try {
        process.kill(pid, 0);
        return false;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === "ESRCH";
      }
    } catch {
      return false; // gone meanwhile: the next open will tell
    }
  }
}
