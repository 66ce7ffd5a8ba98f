import { base64url } from "jose";
import { LRUCache } from "lru-cache";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { StoredToken } from "./token.js";

/**
 * A value, or a promise of it: a store may answer synchronously (the memory store) or asynchronously
 * (Redis, files). The client awaits either.
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where a client keeps its tokens. The default is in memory, per client; `m2m-kit/redis` and
 * `FileTokenStore` (`m2m-kit/node`) share one store across processes. Keys are opaque strings built
 * from (token endpoint, client id, audience, sorted scope set) and everything else that changes which
 * token the server issues or who may use it: `extraParams`, the grant, the authentication method, a
 * fingerprint of the credential and the DPoP key's thumbprint.
 *
 * What a store hands back is checked by the client before it is used (token syntax, type, DPoP
 * binding, lifetime at most one year, `obtainedAt` not in the future, the key's audience): an entry
 * that fails is a miss.
 *
 * Shared stores add the optional parts: `lease` (so a fleet fetches one token per key per lifetime),
 * `deleteGroup` (fleet-wide `invalidate`) and the `accessToken` condition of `delete` (the 401 path
 * drops only the token that was refused).
 */
export interface TokenStore {
  /**
   * The token stored under `key`, or `undefined`. Expired entries may be returned (the client checks
   * `expiresAt`). Throwing or rejecting is a miss (`store_failed` event), not a failed call.
   */
  get(key: string): MaybePromise<StoredToken | undefined>;
  /**
   * Keeps `token` under `key`. Shared stores never replace a token that expires later (a late
   * writer cannot roll the cache back). `context.groups` names the groups the entry belongs to.
   */
  set(key: string, token: StoredToken, context?: TokenWriteContext): MaybePromise<void>;
  /** Drops the entry; with `accessToken`, only while the entry still holds that token. */
  delete(key: string, condition?: { accessToken?: string }): MaybePromise<void>;
  /** Drops every entry written with this group in `context.groups`, in every process sharing the store. */
  deleteGroup?(group: string): MaybePromise<void>;
  /** Present on stores shared by several processes: one of them fetches, the others wait. */
  lease?: TokenLease;
  /**
   * A keyed hash (HMAC) of `digest` under a key that only the store's users hold, as a non-empty
   * string; `digest` is a SHA-256 digest of a client secret (never the secret itself). The client
   * puts it into its cache keys, so that two secrets never share a token. Without it the client
   * derives the fingerprint itself with PBKDF2 (100 000 iterations, once per client).
   */
  credentialFingerprint?(digest: string): MaybePromise<string>;
}

/** What the client says about an entry it writes. */
export interface TokenWriteContext {
  /**
   * Opaque group names: one per (token endpoint, client id) and one per (token endpoint, client id,
   * audience), so `invalidate()` and `invalidate({ audience })` reach every scope set.
   */
  groups: string[];
}

/**
 * A lease per cache key, held by the one process that fetches the token. The client takes it on a
 * miss and in the refresh window; the holder fetches, writes and releases; every other caller polls
 * the store (`get`) with back-off until the token appears, the lease frees up (it then takes it) or
 * `waitTimeoutMs` passes (it then fetches on its own rather than fail).
 */
export interface TokenLease {
  /** Lease lifetime in ms: a holder that dies is replaced after this long. */
  readonly ttlMs: number;
  /** How long a caller waits for another holder's token before fetching itself, in ms. */
  readonly waitTimeoutMs: number;
  /**
   * Takes the lease for `key` for `ttlMs`. Returns a release function (compare-and-delete: it frees
   * only this holder's lease) when taken, `undefined` when another holder has it. Throws when the
   * store cannot answer; the client then fetches on its own.
   */
  acquire(key: string, ttlMs: number): MaybePromise<(() => MaybePromise<void>) | undefined>;
}

/** The names of the options of {@link MemoryTokenStore}. */
export const MEMORY_TOKEN_STORE_OPTION_NAMES: OptionNames<
  NonNullable<ConstructorParameters<typeof MemoryTokenStore>[0]>
> = { maxEntries: true };

/** Bounded in-memory store (least recently used entries go first). */
export class MemoryTokenStore implements TokenStore {
  readonly #cache: LRUCache<string, StoredToken>;
  /**
   * A random secret of this store (it never leaves the process), for credential fingerprints. Made on
   * first use: Workers allow no random values at module scope, where clients are often made.
   */
  #salt: Uint8Array | undefined;

  /**
   * @param options - `maxEntries`: most tokens kept, least recently used dropped first. Default 1000.
   * @throws TypeError for an unknown option or a `maxEntries` that is not a positive integer.
   */
  constructor(options: { maxEntries?: number } = {}) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    checkOptionNames(options, [MEMORY_TOKEN_STORE_OPTION_NAMES], "new MemoryTokenStore()");
    const max = options.maxEntries ?? 1000;
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError("maxEntries must be a positive integer");
    this.#cache = new LRUCache({ max });
  }

  get(key: string): StoredToken | undefined {
    return this.#cache.get(key);
  }

  set(key: string, token: StoredToken): void {
    this.#cache.set(key, token);
  }

  delete(key: string, condition?: { accessToken?: string }): void {
    if (condition?.accessToken !== undefined && this.#cache.get(key)?.accessToken !== condition.accessToken)
      return;
    this.#cache.delete(key);
  }

  /**
   * SHA-256 of `digest` after a random secret of this store (it never leaves the process): the keyed
   * hash of a client secret for the client's cache keys, cheap and the same in every request.
   */
  async credentialFingerprint(digest: string): Promise<string> {
    this.#salt ??= crypto.getRandomValues(new Uint8Array(32));
    const text = new TextEncoder().encode(digest);
    const input = new Uint8Array(this.#salt.length + text.length);
    input.set(this.#salt);
    input.set(text, this.#salt.length);
    return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", input)));
  }

  /** Number of cached tokens. */
  get size(): number {
    return this.#cache.size;
  }
}
