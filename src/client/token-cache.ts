import { LRUCache } from "lru-cache";
import { StoreUnavailableError } from "../errors.js";
import type { Clock } from "../lib/clock.js";
import { MemoryTokenStore, type TokenLease, type TokenStore } from "./store.js";
import { checkStoredToken, type StoredTokenExpectations } from "./stored-token-check.js";
import type { StoredToken } from "./token.js";

type MaybePromise<T> = T | Promise<T>;

/** How a lease-coordinated fetch ended for this process. */
export type LeaseOutcome =
  | { kind: "shared"; token: StoredToken; waitedMs: number }
  | { kind: "fetched"; token: StoredToken; waitedMs: number; waited: "none" | "acquired" | "timeout" }
  | { kind: "unavailable"; token: StoredToken; reason: string };

/** First poll of the store while another process holds the lease, then ×1.5 up to the cap, in ms. */
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 250;

/** After a store failure, tokens are also kept in process memory for this long (ms). */
const DEGRADED_MS = 60_000;

/**
 * Every access of the client to its `TokenStore`: the index of keys written per audience that
 * `invalidate({ audience })` needs (bounded like the store: least recently written keys go first),
 * and the lease protocol of shared stores.
 *
 * A custom store that throws or rejects never fails a call: the operation counts as a miss (get) or is
 * skipped (set, delete), `onFailure` reports it as a `StoreUnavailableError`, and while the store
 * fails tokens are also kept in a bounded in-memory store, so a broken store does not turn every call
 * into a token request.
 *
 * What a store hands back is checked before use (`checkStoredToken`, with this client's DPoP binding
 * and the key's audience); an entry that fails is a miss, reported through `onRefused`. A token
 * object that passed is remembered, so a hit on the same object costs no second check.
 */
export class TokenCache {
  /** Key → audience of every key written, so `invalidate({ audience })` finds every scope set. */
  readonly #audienceOf: LRUCache<string, { audience: string | undefined }>;
  readonly #fallback: MemoryTokenStore;
  readonly #checked = new WeakSet<StoredToken>();
  #degradedUntil = 0;

  constructor(
    private readonly store: TokenStore,
    private readonly clientId: string,
    private readonly options: {
      maxEntries: number;
      now: () => number;
      onFailure: (operation: "get" | "set" | "delete", error: StoreUnavailableError) => void;
      /** This client's DPoP binding, as `checkStoredToken` wants it (`undefined`: not known yet). */
      binding: () => StoredTokenExpectations["dpop"];
      /** A stored entry failed the checks: it was treated as a miss. */
      onRefused: (reason: string) => void;
    },
  ) {
    this.#audienceOf = new LRUCache({ max: options.maxEntries });
    this.#fallback = new MemoryTokenStore({ maxEntries: options.maxEntries });
  }

  /**
   * The store's lease, when it is shared by several processes. A lease that cannot be read (a getter
   * that throws) or is not `{ ttlMs, waitTimeoutMs, acquire }` is a store failure: reported, and the
   * client fetches on its own.
   */
  get lease(): TokenLease | undefined {
    try {
      const lease = this.store.lease;
      if (lease === undefined || lease === null) return undefined;
      const { ttlMs, waitTimeoutMs, acquire } = lease;
      if (
        typeof acquire !== "function" ||
        !(Number.isFinite(ttlMs) && ttlMs > 0) ||
        !(Number.isFinite(waitTimeoutMs) && waitTimeoutMs >= 0)
      ) {
        throw new TypeError("the store's lease is not { ttlMs, waitTimeoutMs, acquire() }");
      }
      return { ttlMs, waitTimeoutMs, acquire: (key, ms) => acquire.call(lease, key, ms) };
    } catch (error) {
      this.#failed("get", error, "");
      return undefined;
    }
  }

  /** The stored token; synchronous when the store is (a cache hit then costs no microtask). */
  get(key: string): MaybePromise<StoredToken | undefined> {
    let found: MaybePromise<StoredToken | undefined>;
    try {
      found = this.store.get(key);
    } catch (error) {
      return this.#failed("get", error, key);
    }
    if (found instanceof Promise) {
      return found.then(
        (token) => this.#accept(key, token),
        (error: unknown) => this.#failed("get", error, key),
      );
    }
    if (found === undefined && this.#degradedUntil !== 0) return this.#fallback.get(key);
    return this.#accept(key, found);
  }

  /** The token when it passes the read-back checks; `undefined` (a miss) when it does not. */
  #accept(key: string, token: StoredToken | undefined): StoredToken | undefined {
    if (token === undefined || this.#checked.has(token)) return token;
    let audience: string | null | undefined;
    try {
      audience = (JSON.parse(key) as unknown[])[2] as string | null;
    } catch {
      audience = undefined; // not a key this client built
    }
    const reason =
      typeof token === "object" && token !== null
        ? checkStoredToken(token, { now: this.options.now(), dpop: this.options.binding(), audience })
        : "not a token";
    if (reason !== undefined) {
      this.options.onRefused(reason);
      return undefined;
    }
    this.#checked.add(token);
    return token;
  }

  async set(key: string, audience: string | undefined, token: StoredToken): Promise<void> {
    this.#audienceOf.set(key, { audience });
    if (this.#degradedUntil !== 0) {
      if (this.options.now() < this.#degradedUntil) this.#fallback.set(key, token);
      else this.#degradedUntil = 0;
    }
    try {
      await this.store.set(key, token, { groups: groupsOf(key) });
    } catch (error) {
      this.#failed("set", error, key);
      this.#fallback.set(key, token);
    }
  }

  async delete(key: string, condition?: { accessToken: string }): Promise<void> {
    this.#fallback.delete(key, condition);
    try {
      await this.store.delete(key, condition);
    } catch (error) {
      this.#failed("delete", error, key);
    }
  }

  /** Drops the entry only while it holds this token: a concurrent caller may have a newer one. */
  async deleteIfHolds(key: string, accessToken: string): Promise<void> {
    const found = await this.get(key);
    if (found && found.accessToken === accessToken) await this.delete(key, { accessToken });
  }

  /**
   * Drops every scope set of the listed audience, or everything. A shared store drops them for every
   * process (its group index); the keys this process wrote are dropped here too.
   */
  async invalidate(
    options: { audience?: string | undefined },
    endpointUrl: string | undefined,
  ): Promise<void> {
    const all = !("audience" in options);
    if (endpointUrl !== undefined) {
      const group = all
        ? JSON.stringify([endpointUrl, this.clientId])
        : JSON.stringify([endpointUrl, this.clientId, options.audience ?? null]);
      try {
        // Read inside the try: a member (a getter) that throws is a store failure too.
        const deleteGroup = this.store.deleteGroup;
        if (deleteGroup) await deleteGroup.call(this.store, group);
      } catch (error) {
        this.#failed("delete", error, group);
      }
    }
    const keys: string[] = [];
    for (const [key, { audience }] of this.#audienceOf.entries()) {
      if (all || audience === options.audience) keys.push(key);
    }
    for (const key of keys) {
      this.#audienceOf.delete(key);
      await this.delete(key);
    }
  }

  /** Keys in the audience index (bounded by `maxEntries`). */
  get indexSize(): number {
    return this.#audienceOf.size;
  }

  /**
   * Gets a token through the store's lease: the holder runs `fetch` (which writes the store) and
   * releases; while another process holds it, this one polls the store with back-off until a token
   * newer than `previousExpiresAt` (and other than `rejected`, one an API refused) appears, the lease
   * frees up (then it fetches), or
   * `lease.waitTimeoutMs` passes (then it fetches on its own). A store that cannot answer never fails
   * the call: this process fetches on its own.
   */
  async leased(
    lease: TokenLease,
    key: string,
    options: {
      previousExpiresAt: number | undefined;
      rejected?: string | undefined;
      clock: Clock;
      signal: AbortSignal;
      fetch: () => Promise<StoredToken>;
    },
  ): Promise<LeaseOutcome> {
    const { clock, fetch, previousExpiresAt, rejected } = options;
    const started = clock.now();
    const deadline = started + lease.waitTimeoutMs;
    const usable = (token: StoredToken | undefined): token is StoredToken =>
      token !== undefined &&
      clock.now() < token.expiresAt &&
      token.accessToken !== rejected &&
      (previousExpiresAt === undefined || token.expiresAt > previousExpiresAt);
    let delay = POLL_FIRST_MS;
    let waited = false;
    for (;;) {
      let release: (() => unknown) | undefined;
      try {
        release = await lease.acquire(key, lease.ttlMs);
      } catch (error) {
        return { kind: "unavailable", token: await fetch(), reason: (error as Error)?.message ?? "" };
      }
      if (release) {
        try {
          // A holder may have written and released between our last read and this acquire.
          const found = await this.#read(key);
          if (usable(found)) return { kind: "shared", token: found, waitedMs: clock.now() - started };
          const token = await fetch();
          return {
            kind: "fetched",
            token,
            waitedMs: clock.now() - started,
            waited: waited ? "acquired" : "none",
          };
        } finally {
          try {
            await release();
          } catch {
            // The lease expires on its own.
          }
        }
      }
      waited = true;
      const now = clock.now();
      if (now >= deadline) {
        return { kind: "fetched", token: await fetch(), waitedMs: now - started, waited: "timeout" };
      }
      await clock.sleep(Math.min(delay, deadline - now), options.signal);
      delay = Math.min(delay * 1.5, POLL_MAX_MS);
      const found = await this.#read(key);
      if (usable(found)) return { kind: "shared", token: found, waitedMs: clock.now() - started };
    }
  }

  async #read(key: string): Promise<StoredToken | undefined> {
    try {
      return this.#accept(key, await this.store.get(key));
    } catch {
      return undefined;
    }
  }

  #failed(operation: "get" | "set" | "delete", error: unknown, key: string): StoredToken | undefined {
    this.#degradedUntil = this.options.now() + DEGRADED_MS;
    this.options.onFailure(
      operation,
      new StoreUnavailableError(`token store ${operation} failed; the client goes on without it`, {
        cause: error,
      }),
    );
    return operation === "get" ? this.#fallback.get(key) : undefined;
  }
}

/**
 * The groups of a cache key `[endpoint, clientId, audience, scope, partition]`: per client and per
 * audience, whatever the credential, tenant or binding, so `invalidate` reaches every entry of them.
 */
function groupsOf(key: string): string[] {
  const [endpoint, clientId, audience] = JSON.parse(key) as [string, string, string | null];
  return [JSON.stringify([endpoint, clientId]), JSON.stringify([endpoint, clientId, audience])];
}
