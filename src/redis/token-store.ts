import { LRUCache } from "lru-cache";
import type { TokenLease, TokenStore, TokenWriteContext } from "../client/store.js";
import type { StoredToken } from "../client/token.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import {
  checkEncryptionKey,
  createTokenSealer,
  decodeStoredToken,
  type EncryptionKeyInput,
  randomId,
  type TokenSealer,
} from "../lib/token-crypto.js";
import { type RedisClientLike, type RedisCommands, Script, toCommands, withTimeout } from "./commands.js";

/** Options of {@link createRedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * A connected node-redis 4, 5 or 6 client (`createClient()`) or cluster (`createCluster()`), or an
   * ioredis `Redis` or `Cluster`. Connection, TLS and auth stay yours; the store never connects.
   */
  redis: RedisClientLike;
  /** Prefix of every key name. Must not contain `{` or `}`. Default `"m2m:"`. */
  keyPrefix?: string;
  /**
   * Encrypts values with AES-256-GCM and names keys with HMAC-SHA-256 (WebCrypto). A secret of at
   * least 32 characters (e.g. `openssl rand -base64 32`) or 32 bytes, the same for the whole fleet.
   * Without it values are plain JSON (they contain the token) and names are SHA-256.
   */
  encryptionKey?: EncryptionKeyInput;
  /**
   * The fetch lease: `ttlMs` (default 10 000) bounds how long a dead holder blocks the others;
   * `waitTimeoutMs` (default 15 000) how long a caller waits for the holder's token before it fetches
   * on its own. `false`: share tokens but let every process fetch on a miss.
   */
  lease?:
    | {
        /** Lease lifetime in ms: a holder that dies blocks the others at most this long. Default 10 000. */
        ttlMs?: number;
        /** How long a caller waits for the holder's token before it fetches on its own, in ms. Default 15 000. */
        waitTimeoutMs?: number;
      }
    | false;
  /** Each Redis command's timeout, in ms; a slower answer counts as Redis being down. Default 500. */
  redisTimeoutMs?: number;
  /** After a Redis failure, commands are skipped (in-process cache only) for this long, in ms. Default 1 000. */
  retryAfterMs?: number;
  /** Bound of the in-process cache (L1) in front of Redis. Default 1 000 entries. */
  l1MaxEntries?: number;
  /** Redis became unreachable (`store_unavailable`) or answers again (`store_recovered`). */
  onEvent?: (event: RedisStoreEvent) => void;
}

/** The names of {@link RedisTokenStoreOptions}. */
export const REDIS_TOKEN_STORE_OPTION_NAMES: OptionNames<RedisTokenStoreOptions> = {
  redis: true,
  keyPrefix: true,
  encryptionKey: true,
  lease: true,
  redisTimeoutMs: true,
  retryAfterMs: true,
  l1MaxEntries: true,
  onEvent: true,
};

/** The names of the `lease` option's object form. */
export const LEASE_OPTION_NAMES: OptionNames<Exclude<RedisTokenStoreOptions["lease"], false | undefined>> = {
  ttlMs: true,
  waitTimeoutMs: true,
};

const WHERE = "createRedisTokenStore()";

/** Events of a Redis store. They never carry a key name, a token or a value. */
export type RedisStoreEvent =
  | {
      /** A Redis command failed or timed out: the store works from its in-process cache for `retryAfterMs`. */
      type: "store_unavailable";
      /** What the store was doing (`get`, `set`, `delete`, `lease`, …). */
      operation: string;
      /** The error's message (the Redis client's, or the timeout). */
      reason: string;
    }
  | {
      /** Redis answers again; sharing resumes. */
      type: "store_recovered";
      /** How long Redis was considered unreachable, in ms. */
      unavailableMs: number;
    };

interface L1Entry {
  token: StoredToken;
  groups: readonly string[];
}

// Never replace a token that expires later (KEYS[1] token hash; ARGV value, expiresAt, fingerprint, ttlMs).
const SET_IF_LATER = new Script(`local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if e and e >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 'f', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`);

// Delete the token only while it is the one with this fingerprint.
const DELETE_IF =
  new Script(`if redis.call('HGET', KEYS[1], 'f') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

// Compare-and-delete release: only the holder's own lease.
const RELEASE =
  new Script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

// Group index: add a member and keep the set at least as long as its longest entry.
const INDEX_ADD = new Script(`redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`);

function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive number of milliseconds`);
  }
  return value;
}

function toText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}

/** A {@link TokenStore} on Redis, shared by every process and host of a fleet. */
export class RedisTokenStore implements TokenStore {
  readonly lease: TokenLease | undefined;
  readonly #redis: RedisCommands;
  readonly #prefix: string;
  readonly #sealer: TokenSealer;
  readonly #timeoutMs: number;
  readonly #retryAfterMs: number;
  readonly #onEvent: ((event: RedisStoreEvent) => void) | undefined;
  readonly #l1: LRUCache<string, L1Entry>;
  readonly #names = new LRUCache<string, Promise<string>>({ max: 2000 });
  readonly #reads = new Map<string, Promise<StoredToken | undefined>>();
  #downSince: number | undefined;
  #skipUntil = 0;

  constructor(options: RedisTokenStoreOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    checkOptionNames(options, [REDIS_TOKEN_STORE_OPTION_NAMES], WHERE);
    this.#redis = toCommands(options.redis);
    const prefix = options.keyPrefix ?? "m2m:";
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw new TypeError("keyPrefix must be a string without { or }");
    }
    this.#prefix = prefix;
    checkEncryptionKey(options.encryptionKey);
    this.#sealer = createTokenSealer(options.encryptionKey);
    this.#timeoutMs = positive(options.redisTimeoutMs, "redisTimeoutMs", 500);
    this.#retryAfterMs = positive(options.retryAfterMs, "retryAfterMs", 1_000);
    const l1Max = options.l1MaxEntries ?? 1000;
    if (!Number.isInteger(l1Max) || l1Max < 1) throw new TypeError("l1MaxEntries must be a positive integer");
    this.#l1 = new LRUCache({ max: l1Max });
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

  /** True while Redis is considered unreachable (the store then works from its in-process cache). */
  get unavailable(): boolean {
    return this.#downSince !== undefined;
  }

  /**
   * The token under `key`: from the in-process cache before its refresh window (no round trip), else
   * from Redis (decrypted). Redis unreachable: the in-process entry, or `undefined`; never a rejection.
   */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    const entry = this.#l1.get(key);
    const now = Date.now();
    // An L1 hit before the refresh window costs no round trip; in the window, Redis may hold the
    // token another process has already refreshed.
    if (entry && now < entry.token.refreshAt && now < entry.token.expiresAt) return entry.token;
    let read = this.#reads.get(key);
    if (!read) {
      read = this.#read(key).finally(() => this.#reads.delete(key));
      this.#reads.set(key, read);
    }
    return read;
  }

  async set(key: string, token: StoredToken, context?: TokenWriteContext): Promise<void> {
    const current = this.#l1.get(key);
    if (!current || current.token.expiresAt <= token.expiresAt) {
      this.#l1.set(key, { token, groups: context?.groups ?? current?.groups ?? [] });
    }
    const ttlMs = Math.ceil(token.expiresAt - Date.now());
    if (ttlMs <= 0) return;
    await this.#attempt("set", async () => {
      const name = await this.#name(key);
      const value = await this.#sealer.seal(JSON.stringify(token), name);
      const fingerprint = await this.#sealer.name(`fingerprint\n${token.accessToken}`);
      const tokenKey = this.#tokenKey(name);
      await this.#run(SET_IF_LATER, tokenKey, [value, String(token.expiresAt), fingerprint, String(ttlMs)]);
      for (const group of context?.groups ?? []) {
        await this.#run(INDEX_ADD, this.#groupKey(await this.#name(`group\n${group}`)), [
          name,
          String(ttlMs),
        ]);
      }
    });
  }

  async delete(key: string, condition?: { accessToken?: string }): Promise<void> {
    const accessToken = condition?.accessToken;
    const entry = this.#l1.get(key);
    if (accessToken === undefined || entry?.token.accessToken === accessToken) this.#l1.delete(key);
    await this.#attempt("delete", async () => {
      const tokenKey = this.#tokenKey(await this.#name(key));
      if (accessToken === undefined) {
        await this.#send(tokenKey, ["DEL", tokenKey]);
      } else {
        await this.#run(DELETE_IF, tokenKey, [await this.#sealer.name(`fingerprint\n${accessToken}`)]);
      }
    });
  }

  async deleteGroup(group: string): Promise<void> {
    for (const [key, entry] of this.#l1.entries()) {
      if (entry.groups.includes(group)) this.#l1.delete(key);
    }
    await this.#attempt("deleteGroup", async () => {
      const groupKey = this.#groupKey(await this.#name(`group\n${group}`));
      const members = (await this.#send(groupKey, ["SMEMBERS", groupKey])) as unknown[];
      for (const member of members ?? []) {
        const tokenKey = this.#tokenKey(toText(member) ?? "");
        // Read the fingerprint, then delete only that token: one written meanwhile stays.
        const fingerprint = toText(await this.#send(tokenKey, ["HGET", tokenKey, "f"]));
        if (fingerprint !== undefined) await this.#run(DELETE_IF, tokenKey, [fingerprint]);
        await this.#send(groupKey, ["SREM", groupKey, toText(member) ?? ""]);
      }
    });
  }

  /** Drops the in-process cache (L1) only; Redis keeps its entries. */
  clearLocal(): void {
    this.#l1.clear();
  }

  #tokenKey(name: string): string {
    return `${this.#prefix}{${name}}:t`;
  }

  #leaseKey(name: string): string {
    return `${this.#prefix}{${name}}:l`;
  }

  #groupKey(name: string): string {
    return `${this.#prefix}{${name}}:g`;
  }

  #name(value: string): Promise<string> {
    let name = this.#names.get(value);
    if (!name) {
      name = this.#sealer.name(value);
      this.#names.set(value, name);
    }
    return name;
  }

  async #read(key: string): Promise<StoredToken | undefined> {
    const local = this.#l1.get(key)?.token;
    const remote = await this.#attempt("get", async () => {
      const name = await this.#name(key);
      const tokenKey = this.#tokenKey(name);
      const value = toText(await this.#send(tokenKey, ["HGET", tokenKey, "v"]));
      if (value === undefined) return undefined;
      try {
        return decodeStoredToken(await this.#sealer.open(value, name));
      } catch {
        return undefined; // another key, or tampered with: treat as a miss
      }
    });
    const now = Date.now();
    const best = [local, remote]
      .filter((t): t is StoredToken => t !== undefined && now < t.expiresAt)
      .sort((a, b) => b.expiresAt - a.expiresAt)[0];
    if (best && best !== local) {
      this.#l1.set(key, { token: best, groups: this.#l1.get(key)?.groups ?? [] });
    }
    return best;
  }

  async #acquire(key: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    if (!this.#available()) throw new Error("Redis is unavailable");
    const id = randomId();
    const leaseKey = this.#leaseKey(await this.#name(key));
    const release = async () => {
      try {
        await withTimeout(RELEASE.run(this.#redis, leaseKey, [id]), this.#timeoutMs);
      } catch {
        // The lease expires on its own.
      }
    };
    let answer: unknown;
    try {
      answer = await withTimeout(
        this.#redis.send(leaseKey, ["SET", leaseKey, id, "NX", "PX", String(Math.ceil(ttlMs))]),
        this.#timeoutMs,
        // A lease granted after the timeout was never used: give it back.
        (late) => {
          if (toText(late) === "OK") void release();
        },
      );
    } catch (error) {
      this.#failed("acquire", error);
      throw error;
    }
    this.#succeeded();
    return toText(answer) === "OK" ? release : undefined;
  }

  #send(key: string, args: string[]): Promise<unknown> {
    return withTimeout(this.#redis.send(key, args), this.#timeoutMs);
  }

  #run(script: Script, key: string, args: string[]): Promise<unknown> {
    return withTimeout(script.run(this.#redis, key, args), this.#timeoutMs);
  }

  #available(): boolean {
    if (Date.now() < this.#skipUntil) return false;
    if (!this.#redis.ready()) {
      this.#failed("connect", new Error("the Redis client is not connected"));
      return false;
    }
    return true;
  }

  /** Runs `operation` unless Redis is known to be down; failures are recorded, never thrown. */
  async #attempt<T>(name: string, operation: () => Promise<T>): Promise<T | undefined> {
    if (!this.#available()) return undefined;
    try {
      const result = await operation();
      this.#succeeded();
      return result;
    } catch (error) {
      this.#failed(name, error);
      return undefined;
    }
  }

  #failed(operation: string, error: unknown): void {
    this.#skipUntil = Date.now() + this.#retryAfterMs;
    if (this.#downSince !== undefined) return;
    this.#downSince = Date.now();
    this.#emit({
      type: "store_unavailable",
      operation,
      reason: error instanceof Error ? error.message : String(error),
    });
  }

  #succeeded(): void {
    if (this.#downSince === undefined) return;
    const unavailableMs = Date.now() - this.#downSince;
    this.#downSince = undefined;
    this.#emit({ type: "store_recovered", unavailableMs });
  }

  #emit(event: RedisStoreEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A failing listener must not break token delivery.
    }
  }
}

/**
 * A token store on Redis for a fleet: one token per (token endpoint, client id, audience, scope set)
 * per lifetime for every process and host that shares it.
 *
 * - An in-process cache (L1) in front of Redis: a hit before the token's refresh window costs no
 *   round trip.
 * - A lease per key (`SET NX PX`, released by a Lua compare-and-delete): on a miss and in the refresh
 *   window one process fetches, the others poll with back-off until its token appears.
 * - A Lua write that never replaces a token expiring later; the 401 path deletes an entry only
 *   while it holds the refused token; `invalidate` reaches every process through a hashed index.
 * - Key names are hashes (with a `{hash tag}`, so a token and its lease share a Cluster slot);
 *   values are AES-256-GCM sealed with `encryptionKey`.
 * - Redis down or slower than `redisTimeoutMs`: `getToken` never fails because of it. The store
 *   answers from L1, the client fetches on its own, `onEvent` gets `store_unavailable`, and sharing
 *   resumes (`store_recovered`) when Redis answers again.
 *
 * @throws TypeError on a bad option, naming it.
 * @example
 * ```ts
 * import { createClient } from "redis";
 * import { createRedisTokenStore } from "m2m-kit/redis";
 * const redis = await createClient({ url: process.env.REDIS_URL }).on("error", console.error).connect();
 * const store = createRedisTokenStore({ redis, encryptionKey: process.env.M2M_CACHE_KEY });
 * const client = new ClientCredentialsClient({ issuer, clientId, clientSecret, store });
 * ```
 */
export function createRedisTokenStore(options: RedisTokenStoreOptions): RedisTokenStore {
  return new RedisTokenStore(options);
}
