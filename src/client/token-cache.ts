import { LRUCache } from "lru-cache";
import { StoreUnavailableError } from "../errors.js";
import { MemoryTokenStore, type TokenStore } from "./store.js";
import type { StoredToken } from "./token.js";

type MaybePromise<T> = T | Promise<T>;

/** After a store failure, tokens are also kept in process memory for this long (ms). */
const DEGRADED_MS = 60_000;

/**
 * Every access of the client to its `TokenStore`, plus the index of keys written per audience that
 * `invalidate({ audience })` needs (bounded like the store: least recently written keys go first).
 *
 * A custom store that throws or rejects never fails a call: the operation counts as a miss (get) or is
 * skipped (set, delete), `onFailure` reports it as a `StoreUnavailableError`, and while the store
 * fails tokens are also kept in a bounded in-memory store, so a broken store does not turn every call
 * into a token request.
 */
export class TokenCache {
  /** Key → audience of every key written, so `invalidate({ audience })` finds every scope set. */
  readonly #audienceOf: LRUCache<string, { audience: string | undefined }>;
  readonly #fallback: MemoryTokenStore;
  #degradedUntil = 0;

  constructor(
    private readonly store: TokenStore,
    private readonly options: {
      maxEntries: number;
      now: () => number;
      onFailure: (operation: "get" | "set" | "delete", error: StoreUnavailableError) => void;
    },
  ) {
    this.#audienceOf = new LRUCache({ max: options.maxEntries });
    this.#fallback = new MemoryTokenStore({ maxEntries: options.maxEntries });
  }

  /** The stored token; synchronous when the store is (a cache hit then costs no microtask). */
  get(key: string): MaybePromise<StoredToken | undefined> {
    let found: MaybePromise<StoredToken | undefined>;
    try {
      found = this.store.get(key);
    } catch (error) {
      return this.#failed("get", error, key);
    }
    if (found instanceof Promise) return found.catch((error: unknown) => this.#failed("get", error, key));
    if (found === undefined && this.#degradedUntil !== 0) return this.#fallback.get(key);
    return found;
  }

  async set(key: string, audience: string | undefined, token: StoredToken, groups?: string[]): Promise<void> {
    this.#audienceOf.set(key, { audience });
    if (this.#degradedUntil !== 0) {
      if (this.options.now() < this.#degradedUntil) this.#fallback.set(key, token);
      else this.#degradedUntil = 0;
    }
    try {
      await this.store.set(key, token, groups ? { groups } : undefined);
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

  /** Drops every scope set of the given audience, or everything. */
  async invalidate(options: { audience?: string | undefined }): Promise<void> {
    const all = !("audience" in options);
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
