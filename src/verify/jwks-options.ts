/** The verifier's `jwks` options: cache timings and the shared store. */
import type { OptionNames } from "../lib/option-names.js";
import type { KeyValueStore } from "./key-value-store.js";

/** JWKS cache settings. */
export interface JwksOptions {
  /**
   * Keys are refreshed (in the background, while they keep serving) after this long, or after the
   * server's `Cache-Control: max-age` if shorter (a server's max-age is not taken below the
   * cooldown; this option is honoured as set). Default 600 000.
   */
  cacheMaxAgeMs?: number;
  /**
   * At most one refetch per this period for tokens whose key is not in the set (an unknown `kid`),
   * whatever the request rate. The first fetch starts it, as in jose. Default 30 000.
   */
  cooldownMs?: number;
  /** Timeout of each JWKS request. Default 5 000. */
  timeoutMs?: number;
  /** When refreshes fail, the last good keys are used for this long after they were fetched. Default 86 400 000. */
  staleMaxAgeMs?: number;
  /**
   * Keeps key sets and discovery documents in a store that isolates and processes share (Workers KV,
   * the Cache API through `cacheApiStore` from `m2m-kit/web`, Redis), so that a new isolate verifies
   * its first token without a request. Read when a verifier has no keys yet and before a scheduled
   * refresh; written after each fetch (in the background: through the call's `waitUntil` on
   * Workers). Entries are checked as fetched documents are, and the time they were fetched decides
   * their freshness (`cacheMaxAgeMs`, `staleMaxAgeMs`); the cooldown is unchanged, and an unknown
   * `kid` is always fetched. A failing or slow store is bypassed (`store_failed`). Requires
   * `integrityKey`. Default: none (each verifier fetches its own).
   */
  store?: KeyValueStore;
  /**
   * Required with `store`: a secret of at least 32 characters or 32 bytes (e.g. `openssl rand
   * -base64 32`), the same wherever the store is read. Entries are authenticated with HMAC-SHA-256
   * under a key derived from it (WebCrypto) and bound to their JWKS URI or issuer, so a key set
   * planted in the store, or copied from another issuer's entry, is a miss (`store_entry_refused`),
   * never a trusted key. `null` stores entries unauthenticated: then anyone who can write to the
   * store can make every verifier trust their signing key. Missing with `store`: a `TypeError`.
   */
  integrityKey?: string | Uint8Array | null;
  /** Each store read and write is given up (`store_failed`) after this many ms. Default 500. */
  storeTimeoutMs?: number;
}

/** The names of {@link JwksOptions}. */
export const JWKS_OPTION_NAMES: OptionNames<JwksOptions> = {
  cacheMaxAgeMs: true,
  cooldownMs: true,
  timeoutMs: true,
  staleMaxAgeMs: true,
  store: true,
  integrityKey: true,
  storeTimeoutMs: true,
};

/** The options of `jwks` that configure the store rather than the timings. */
export const JWKS_STORE_OPTIONS = ["store", "integrityKey", "storeTimeoutMs"] as const;

export type JwksSettings = Required<Omit<JwksOptions, (typeof JWKS_STORE_OPTIONS)[number]>>;

export const DEFAULT_JWKS: JwksSettings = /* @__PURE__ */ Object.freeze({
  cacheMaxAgeMs: 600_000,
  cooldownMs: 30_000,
  timeoutMs: 5_000,
  staleMaxAgeMs: 86_400_000,
});
