import { LRUCache } from "lru-cache";
import type { StoredToken } from "./token.js";

type MaybePromise<T> = T | Promise<T>;

/**
 * Where a client keeps its tokens. The default is in memory, per client; `m2m-kit/redis` shares one
 * store across processes. Keys are opaque strings built from (token endpoint, client id, audience,
 * sorted scope set).
 */
export interface TokenStore {
  get(key: string): MaybePromise<StoredToken | undefined>;
  set(key: string, token: StoredToken): MaybePromise<void>;
  delete(key: string): MaybePromise<void>;
}

/** Bounded in-memory store (least recently used entries go first). */
export class MemoryTokenStore implements TokenStore {
  readonly #cache: LRUCache<string, StoredToken>;

  constructor(options: { maxEntries?: number } = {}) {
    this.#cache = new LRUCache({ max: options.maxEntries ?? 1000 });
  }

  get(key: string): StoredToken | undefined {
    return this.#cache.get(key);
  }

  set(key: string, token: StoredToken): void {
    this.#cache.set(key, token);
  }

  delete(key: string): void {
    this.#cache.delete(key);
  }

  /** Number of cached tokens. */
  get size(): number {
    return this.#cache.size;
  }
}
