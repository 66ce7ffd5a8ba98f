import { LRUCache } from "lru-cache";
import type { TokenLease, TokenStore, TokenWriteContext } from "../client/store.js";
import { OBTAINED_AT_SKEW_MS } from "../client/stored-token-check.js";
import type { StoredToken } from "../client/token.js";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../client/token-response.js";
import { checkOptionNames } from "../lib/option-names.js";
import {
  checkEncryptionKey,
  createTokenSealer,
  randomId,
  readStoredToken,
  type TokenSealer,
} from "../lib/token-crypto.js";
import { type RedisCommands, type Script, toCommands, toText, withTimeout } from "./commands.js";
import { RedisHealth } from "./health.js";
import { InvalidationChannel, invalidationMessage } from "./invalidation.js";
import {
  ACQUIRE,
  DELETE_IF_VALUE,
  INDEX_ADD,
  INDEX_MEMBERS,
  READ_ENTRY,
  RELEASE,
  SET_IF_NEWER,
  TOMBSTONE_IF,
} from "./scripts.js";
import {
  LEASE_OPTION_NAMES,
  positive,
  REDIS_TOKEN_STORE_OPTION_NAMES,
  type RedisStoreEvent,
  type RedisTokenStoreOptions,
} from "./token-store-options.js";

export type { RedisStoreEvent, RedisTokenStoreOptions } from "./token-store-options.js";

const WHERE = "createRedisTokenStore()";

interface L1Entry {
  token: StoredToken & { obtainedAt: number };
  /** The entry's name in Redis (a hash of its key). */
  name: string;
  groups: readonly string[];
  /**
   * When Redis last confirmed this entry (the start of the read, or the write), ms since the epoch; 0
   * when Redis refused the write (the next use reads it again).
   */
  checkedAt: number;
}

/** What Redis holds under a name. */
type Remote =
  | { kind: "token"; token: StoredToken & { obtainedAt: number } }
  | { kind: "tombstone"; invalidatedAt: number }
  | { kind: "absent" };

/**
 * An in-process entry is used without asking Redis while the invalidation channel has been up since
 * it was confirmed, or for this long after it was confirmed (ms): the bound on how long a process can
 * hand out an invalidated token when invalidation messages may have been lost.
 */
export const UNCONFIRMED_L1_MS = 1_000;

const MAX_LIFETIME_MS = MAX_TOKEN_LIFETIME_SECONDS * 1000;
/** A lease longer than this (or than the store's own lease TTL) cannot be one a client wrote. */
const LONGEST_LEASE_MS = 600_000;

/** A {@link TokenStore} on Redis, shared by every process and host of a fleet. */
export class RedisTokenStore implements TokenStore {
  readonly lease: TokenLease | undefined;
  /**
   * A keyed hash of a client secret's digest for the client's cache keys: HMAC-SHA-256 under a key
   * derived from `encryptionKey`. Absent with `encryptionKey: null` (the client then uses PBKDF2).
   */
  readonly credentialFingerprint?: (digest: string) => Promise<string>;
  readonly #redis: RedisCommands;
  readonly #prefix: string;
  readonly #sealer: TokenSealer;
  readonly #timeoutMs: number;
  readonly #onEvent: ((event: RedisStoreEvent) => void) | undefined;
  readonly #l1: LRUCache<string, L1Entry>;
  readonly #names = new LRUCache<string, Promise<string>>({ max: 2000 });
  readonly #reads = new Map<string, Promise<StoredToken | undefined>>();
  readonly #channel: InvalidationChannel;
  /** Bumped by every invalidation message: a read begun before one does not fill L1. */
  #invalidations = 0;
  /**
   * When this process first saw each tombstone dated in its future (the invalidating host's clock
   * runs ahead), by name and date: a token obtained after that is newer than the invalidation.
   */
  readonly #futureTombstones = new LRUCache<string, number>({ max: 1000 });
  readonly #health: RedisHealth;

  constructor(options: RedisTokenStoreOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    checkOptionNames(options, [REDIS_TOKEN_STORE_OPTION_NAMES], WHERE);
    this.#redis = toCommands(options.redis);
    const prefix = options.keyPrefix ?? "m2m:";
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw new TypeError("keyPrefix must be a string without { or }");
    }
    this.#prefix = prefix;
    if (options.encryptionKey === undefined) {
      throw new TypeError(
        "encryptionKey is required: a secret of at least 32 characters shared by the fleet (openssl rand -base64 32), or null to keep tokens in Redis as plain JSON that anyone who can write to Redis can replace",
      );
    }
    if (options.encryptionKey !== null) checkEncryptionKey(options.encryptionKey);
    this.#sealer = createTokenSealer(options.encryptionKey ?? undefined);
    const sealer = this.#sealer;
    if (sealer.fingerprint)
      this.credentialFingerprint = (digest) => sealer.fingerprint?.(digest) as Promise<string>;
    this.#timeoutMs = positive(options.redisTimeoutMs, "redisTimeoutMs", 500);
    const retryAfterMs = positive(options.retryAfterMs, "retryAfterMs", 1_000);
    const l1Max = options.l1MaxEntries ?? 1000;
    if (!Number.isInteger(l1Max) || l1Max < 1) throw new TypeError("l1MaxEntries must be a positive integer");
    this.#l1 = new LRUCache({ max: l1Max });
    if (options.onEvent !== undefined && typeof options.onEvent !== "function") {
      throw new TypeError("onEvent must be a function");
    }
    this.#onEvent = options.onEvent;
    this.#health = new RedisHealth(this.#redis, retryAfterMs, (event) => this.#emit(event));
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
    this.#channel = new InvalidationChannel(options.redis, `${prefix}invalidate`, {
      message: (names) => this.#invalidated(names),
      state: (up, reason) =>
        this.#emit(up ? { type: "invalidation_channel_up" } : { type: "invalidation_channel_down", reason }),
    });
  }

  /** True while Redis is considered unreachable (the store then works from its in-process cache). */
  get unavailable(): boolean {
    return this.#health.unavailable;
  }

  /**
   * True while the invalidation channel is subscribed: in-process hits then cost no round trip.
   * Always false on a Cluster client (see docs/security.md, "How invalidate reaches a fleet").
   */
  get invalidationChannelUp(): boolean {
    return this.#channel.liveSince !== undefined;
  }

  /**
   * The token under `key`: from the in-process cache (L1) before its refresh window while it is
   * confirmed (no round trip), else from Redis, checked as a fresh token response would be. Redis
   * unreachable: the in-process entry, or `undefined`; never a rejection.
   */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    this.#channel.start();
    const entry = this.#l1.get(key);
    const now = Date.now();
    // An L1 hit costs no round trip; in the refresh window, Redis may hold the token another process
    // has already refreshed.
    if (entry && now < entry.token.refreshAt && now < entry.token.expiresAt && this.#confirmed(entry, now)) {
      return entry.token;
    }
    let read = this.#reads.get(key);
    if (!read) {
      read = this.#read(key).finally(() => {
        if (this.#reads.get(key) === read) this.#reads.delete(key);
      });
      this.#reads.set(key, read);
    }
    return read;
  }

  async set(key: string, token: StoredToken, context?: TokenWriteContext): Promise<void> {
    this.#channel.start();
    const now = Date.now();
    const stored = { ...token, obtainedAt: token.obtainedAt ?? now };
    const name = await this.#name(key);
    const current = this.#l1.get(key);
    const entry: L1Entry = {
      token: stored,
      name,
      groups: context?.groups ?? current?.groups ?? [],
      checkedAt: now,
    };
    if (!current || current.token.obtainedAt <= stored.obtainedAt) this.#l1.set(key, entry);
    const ttlMs = Math.ceil(stored.expiresAt - now);
    if (ttlMs <= 0) return;
    await this.#health.attempt("set", async () => {
      const value = await this.#sealer.seal(JSON.stringify(stored), name);
      const fingerprint = await this.#fingerprint(stored.accessToken);
      const written = await this.#run(SET_IF_NEWER, this.#tokenKey(name), [
        value,
        String(stored.obtainedAt),
        String(stored.expiresAt),
        fingerprint,
        String(ttlMs),
        String(now),
        String(MAX_LIFETIME_MS),
        String(OBTAINED_AT_SKEW_MS),
      ]);
      // Redis kept another entry (newer, or a later invalidation): the next use reads it.
      if (Number(written) !== 1 && this.#l1.get(key) === entry) entry.checkedAt = 0;
      for (const group of context?.groups ?? []) {
        await this.#run(INDEX_ADD, this.#groupKey(await this.#name(`group\n${group}`)), [
          name,
          String(ttlMs),
        ]);
      }
    });
  }

  async delete(key: string, condition?: { accessToken?: string }): Promise<void> {
    this.#channel.start();
    const accessToken = condition?.accessToken;
    const entry = this.#l1.get(key);
    if (accessToken === undefined || entry?.token.accessToken === accessToken) this.#l1.delete(key);
    await this.#health.attempt("delete", async () => {
      const name = await this.#name(key);
      const fingerprint = accessToken === undefined ? "" : await this.#fingerprint(accessToken);
      const dropped = await this.#run(TOMBSTONE_IF, this.#tokenKey(name), [fingerprint, String(Date.now())]);
      if (Number(dropped) === 1) await this.#publish([name]);
    });
  }

  /**
   * Drops every entry of the group, in Redis (each replaced by a tombstone until its token would have
   * expired) and in every live process's in-process cache (a message on the invalidation channel).
   */
  async deleteGroup(group: string): Promise<void> {
    this.#channel.start();
    for (const [key, entry] of this.#l1.entries()) {
      if (entry.groups.includes(group)) this.#l1.delete(key);
    }
    await this.#health.attempt("deleteGroup", async () => {
      const groupKey = this.#groupKey(await this.#name(`group\n${group}`));
      const members = (await this.#run(INDEX_MEMBERS, groupKey, [])) as unknown[];
      const dropped: string[] = [];
      const now = String(Date.now());
      for (const member of members ?? []) {
        const name = toText(member) ?? "";
        const tokenKey = this.#tokenKey(name);
        // Read the fingerprint, then drop only that token: one written meanwhile stays.
        const fingerprint = toText(
          await this.#send(tokenKey, ["HGET", tokenKey, "f"]).catch(() => undefined),
        );
        if (
          fingerprint !== undefined &&
          Number(await this.#run(TOMBSTONE_IF, tokenKey, [fingerprint, now])) === 1
        ) {
          dropped.push(name);
        }
        await this.#send(groupKey, ["SREM", groupKey, name]);
      }
      this.#dropLocal(dropped);
      if (dropped.length > 0) await this.#publish(dropped);
    });
  }

  /** Drops the in-process cache (L1) only; Redis keeps its entries. */
  clearLocal(): void {
    this.#l1.clear();
  }

  /**
   * Closes the invalidation channel's connection. The user's own client stays open (close it
   * yourself); the store goes on working, re-reading in-process entries older than a second. The
   * channel also closes when the user's client ends (`quit`, `disconnect`).
   */
  async close(): Promise<void> {
    await this.#channel.close();
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

  #fingerprint(accessToken: string): Promise<string> {
    return this.#sealer.name(`fingerprint\n${accessToken}`);
  }

  #confirmed(entry: L1Entry, now: number): boolean {
    if (entry.checkedAt === 0) return false;
    if (now - entry.checkedAt < UNCONFIRMED_L1_MS) return true;
    const liveSince = this.#channel.liveSince;
    return liveSince !== undefined && entry.checkedAt >= liveSince;
  }

  async #read(key: string): Promise<StoredToken | undefined> {
    const startedAt = Date.now();
    const invalidations = this.#invalidations;
    const name = await this.#name(key);
    const remote = await this.#health.attempt("get", () => this.#fetch(name));
    const local = this.#l1.get(key);
    const now = Date.now();
    if (remote === undefined) {
      // Redis unreachable: this process's own copy, unconfirmed.
      return local && now < local.token.expiresAt ? local.token : undefined;
    }
    let best: L1Entry | undefined;
    if (remote.kind === "token") {
      best =
        local && local.token.obtainedAt > remote.token.obtainedAt
          ? local
          : { token: remote.token, name, groups: local?.groups ?? [], checkedAt: startedAt };
    } else if (remote.kind === "tombstone") {
      // Invalidated: a copy obtained before that is dropped.
      const invalidatedAt = this.#invalidatedAt(name, remote.invalidatedAt, now);
      best = local && local.token.obtainedAt > invalidatedAt ? local : undefined;
    } else {
      // Nothing there (Redis lost it, or this process's write failed): this process's copy stands.
      best = local;
    }
    if (invalidations === this.#invalidations) {
      if (best === undefined) this.#l1.delete(key);
      else {
        best.checkedAt = startedAt;
        this.#l1.set(key, best);
      }
    }
    return best && now < best.token.expiresAt ? best.token : undefined;
  }

  /**
   * When, by this process's clock, the invalidation of a tombstone took place at the latest: its own
   * date, or, for a date still in this process's future (another host's clock runs ahead, by up to
   * the skew a tombstone may have), the moment this process first saw it. Without that, the token
   * this process fetches next would look older than the tombstone, its write would be refused, and
   * every call would fetch again until this clock passed the date.
   */
  #invalidatedAt(name: string, invalidatedAt: number, seenAt: number): number {
    if (invalidatedAt <= seenAt) return invalidatedAt;
    const id = `${name} ${invalidatedAt}`;
    const first = this.#futureTombstones.get(id);
    if (first !== undefined) return first;
    this.#futureTombstones.set(id, seenAt);
    return seenAt;
  }

  /** Reads and checks the entry under `name`; a refused entry is deleted while it is unchanged. */
  async #fetch(name: string): Promise<Remote> {
    const tokenKey = this.#tokenKey(name);
    const [v, o, e, t] = ((await this.#run(READ_ENTRY, tokenKey, [])) as unknown[]).map(toText);
    if (t !== undefined) {
      const invalidatedAt = Number(o);
      // A tombstone no client wrote (no time, or a time in the future) is only a miss.
      return Number.isFinite(invalidatedAt) && invalidatedAt <= Date.now() + OBTAINED_AT_SKEW_MS
        ? { kind: "tombstone", invalidatedAt }
        : { kind: "absent" };
    }
    if (v === undefined) return { kind: "absent" };
    let refused: string;
    try {
      const read = readStoredToken(await this.#sealer.open(v, name), Date.now());
      if ("token" in read) {
        const token = read.token as StoredToken & { obtainedAt: number };
        // The plain fields order writes; they must say what the sealed value says.
        if (String(token.obtainedAt) === o && String(token.expiresAt) === e) return { kind: "token", token };
        refused = "plain fields differ from the value";
      } else {
        refused = read.refused;
      }
    } catch {
      refused = this.#sealer.encrypted ? "not sealed with this encryptionKey" : "not a stored token";
    }
    this.#emit({ type: "entry_refused", reason: refused });
    await this.#run(DELETE_IF_VALUE, tokenKey, [v]);
    return { kind: "absent" };
  }

  /** An invalidation message: the named entries leave L1 (reads in flight do not put them back). */
  #invalidated(names: readonly string[]): void {
    this.#invalidations++;
    this.#dropLocal(names);
  }

  #dropLocal(names: readonly string[]): void {
    if (names.length === 0) return;
    const dropped = new Set(names);
    for (const [key, entry] of this.#l1.entries()) {
      if (dropped.has(entry.name)) {
        this.#l1.delete(key);
        this.#reads.delete(key);
      }
    }
  }

  async #publish(names: string[]): Promise<void> {
    const channel = `${this.#prefix}invalidate`;
    await this.#send(channel, ["PUBLISH", channel, invalidationMessage(names)]);
  }

  async #acquire(key: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    if (!this.#health.available()) throw new Error("Redis is unavailable");
    const id = randomId();
    const leaseKey = this.#leaseKey(await this.#name(key));
    const release = async () => {
      try {
        await withTimeout(RELEASE.run(this.#redis, leaseKey, [id]), this.#timeoutMs);
      } catch {
        // The lease expires on its own.
      }
    };
    const ttl = String(Math.ceil(ttlMs));
    let answer: unknown;
    try {
      answer = await withTimeout(
        ACQUIRE.run(this.#redis, leaseKey, [id, ttl, String(Math.max(LONGEST_LEASE_MS, Math.ceil(ttlMs)))]),
        this.#timeoutMs,
        // A lease granted after the timeout was never used: give it back.
        (late) => {
          if (Number(late) === 1) void release();
        },
      );
    } catch (error) {
      this.#health.failed("acquire", error);
      throw error;
    }
    this.#health.succeeded();
    return Number(answer) === 1 ? release : undefined;
  }

  #send(key: string, args: string[]): Promise<unknown> {
    return withTimeout(this.#redis.send(key, args), this.#timeoutMs);
  }

  #run(script: Script, key: string, args: string[]): Promise<unknown> {
    return withTimeout(script.run(this.#redis, key, args), this.#timeoutMs);
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
 * A token store on Redis for a fleet: one token per (token endpoint, client id, audience, scope set,
 * credential, tenant, DPoP key) per lifetime for every process and host that shares it.
 *
 * - An in-process cache (L1) in front of Redis: a hit before the token's refresh window costs no
 *   round trip while the invalidation channel is up (else entries older than a second are read
 *   again).
 * - A lease per key (`SET NX PX`, released by a Lua compare-and-delete): on a miss and in the refresh
 *   window one process fetches, the others poll with back-off until its token appears.
 * - Writes ordered by when the token was obtained (a Lua script); the 401 path drops an entry only
 *   while it holds the refused token; `invalidate` reaches every process through a hashed index and
 *   a pub/sub message on a connection duplicated from `redis`.
 * - What is read back is untrusted: sealed with `encryptionKey` (AES-256-GCM), and checked as a
 *   fresh token response would be; an entry that fails is a miss and is replaced.
 * - Key names are hashes (with a `{hash tag}`, so a token and its lease share a Cluster slot).
 * - Redis down or slower than `redisTimeoutMs`: `getToken` never fails because of it. The store
 *   answers from L1, the client fetches on its own, `onEvent` gets `store_unavailable`, and sharing
 *   resumes (`store_recovered`) when Redis answers again.
 *
 * Call `close()` when you are done with the store (the channel's connection also closes when your
 * client ends).
 *
 * @throws TypeError on a bad option, naming it; `encryptionKey` is required (`null` opts out).
 * @example
 * ```ts
 * import { createClient } from "redis";
 * import { createRedisTokenStore } from "m2m-kit/redis";
 * const redis = await createClient({ url: process.env.REDIS_URL }).on("error", console.error).connect();
 * const store = createRedisTokenStore({ redis, encryptionKey: process.env.M2M_CACHE_KEY! });
 * const client = new ClientCredentialsClient({ issuer, clientId, clientSecret, store });
 * ```
 */
export function createRedisTokenStore(options: RedisTokenStoreOptions): RedisTokenStore {
  return new RedisTokenStore(options);
}
