import { ReplayStoreFullError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";

/**
 * Remembers DPoP proof identifiers for as long as a proof can be accepted, so each is accepted once
 * (RFC 9449 §11.1). `remember` answers `true` the first time a key is seen before `expiresAtMs`
 * and `false` for a replay. A store that cannot answer safely throws: a full memory store throws
 * {@link ReplayStoreFullError} (503 with `Retry-After`), never forgets a key inside its window.
 *
 * The key is the proof key's thumbprint and the proof's `jti`. For several API processes, share
 * one store: `createRedisReplayStore` in `m2m-kit/redis` (`SET NX` with an expiry).
 */
export interface ReplayStore {
  /**
   * `true` when `key` is new and is now remembered until `expiresAtMs` (ms since the epoch), `false`
   * when it was seen before that. Must be atomic across the processes sharing the store.
   */
  remember(key: string, expiresAtMs: number): boolean | Promise<boolean>;
}

/** Options of {@link createMemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /**
   * Most proofs remembered at once. Default 100 000. Memory: an entry is its key (the 43-character
   * key thumbprint and the `jti`, which the verifier caps at 256 characters) and an expiry; with
   * UUID-sized `jti`s an entry takes about 250 bytes of heap and at most 320 (checked by the test
   * suite), so the default store stays under 32 MB.
   */
  maxEntries?: number;
  /** Time source, milliseconds since the epoch. Default `Date.now`. */
  clock?: {
    /** Milliseconds since the epoch. */
    now(): number;
  };
}

/** The names of {@link MemoryReplayStoreOptions}. */
export const MEMORY_REPLAY_STORE_OPTION_NAMES: OptionNames<MemoryReplayStoreOptions> = {
  maxEntries: true,
  clock: true,
};

/** A bounded in-memory {@link ReplayStore}, with read-only state for tests and metrics. */
export interface MemoryReplayStore extends ReplayStore {
  /**
   * Synchronous {@link ReplayStore.remember}.
   *
   * @throws {@link ReplayStoreFullError} when every slot holds a proof still inside its window.
   */
  remember(key: string, expiresAtMs: number): boolean;
  /** Entries held now (some may have expired and not yet been swept). */
  readonly size: number;
  /** The bound given as `maxEntries` (default 100 000). */
  readonly maxEntries: number;
}

/** How many expired entries at the front are dropped per call, so cleaning costs O(1). */
const FRONT_SWEEP = 8;

/**
 * The default replay store of the verifier: one process's memory, bounded by `maxEntries`.
 * Entries leave when their window ends. When every slot holds a proof still inside its window,
 * `remember` throws {@link ReplayStoreFullError} with the seconds until the first one leaves: new
 * proofs wait rather than a remembered one being forgotten, so a replay is never accepted.
 *
 * @example
 * createVerifier({ issuer, audience, dpop: { replayStore: createMemoryReplayStore({ maxEntries: 500_000 }) } });
 */
export function createMemoryReplayStore(options: MemoryReplayStoreOptions = {}): MemoryReplayStore {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [MEMORY_REPLAY_STORE_OPTION_NAMES], "createMemoryReplayStore()");
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError("maxEntries must be a positive integer");
  }
  const clock = options.clock ?? { now: () => Date.now() };
  // Insertion order is close to expiry order (every proof gets the same window from its `iat`),
  // so expired entries collect at the front; `earliest` is a lower bound on every expiry held.
  const entries = new Map<string, number>();
  let earliest = Number.POSITIVE_INFINITY;

  function sweepFront(now: number): void {
    let n = 0;
    for (const [key, expiresAt] of entries) {
      if (expiresAt > now || n++ === FRONT_SWEEP) return;
      entries.delete(key);
    }
  }

  function sweepAll(now: number): void {
    earliest = Number.POSITIVE_INFINITY;
    for (const [key, expiresAt] of entries) {
      if (expiresAt <= now) entries.delete(key);
      else if (expiresAt < earliest) earliest = expiresAt;
    }
  }

  return {
    maxEntries,
    get size() {
      return entries.size;
    },
    remember(key, expiresAtMs) {
      const now = clock.now();
      const seen = entries.get(key);
      if (seen !== undefined) {
        if (seen > now) return false;
        entries.delete(key);
      }
      sweepFront(now);
      if (entries.size >= maxEntries) {
        if (now >= earliest) sweepAll(now);
        if (entries.size >= maxEntries) {
          throw new ReplayStoreFullError(Math.max(1, Math.ceil((earliest - now) / 1000)));
        }
      }
      entries.set(key, expiresAtMs);
      if (expiresAtMs < earliest) earliest = expiresAtMs;
      return true;
    },
  };
}
