import { LRUCache } from "lru-cache";
import type { M2MError } from "../errors.js";

/** How long an answer that will not change (OAuth 4xx, malformed response) is served for its key. */
export const FAILED_KEY_MS = 10_000;
/** Longest `Retry-After` a failed key waits for before the next request. */
export const MAX_FAILED_KEY_MS = 300_000;

interface Failure {
  error: M2MError;
  /** The key answers `error` until then. */
  until: number;
  /** When the server's `Retry-After` ends, if it sent one. */
  retryAt: number | undefined;
}

/**
 * Negative cache: a key whose request failed in a way the next request would repeat (`invalid_client`,
 * `invalid_target`, `invalid_scope`, a malformed answer, a `Retry-After` longer than the retry policy
 * waits) answers the same error for a short while instead of asking the server again. Transient
 * failures without `Retry-After` are not kept: they already went through the retries with back-off.
 * A remembered error's `retryAfterMs` is the wait that remains, not the one the server first named.
 */
export class FailureCache {
  readonly #failures: LRUCache<string, Failure>;

  constructor(maxEntries: number) {
    this.#failures = new LRUCache({ max: maxEntries });
  }

  /** The error to answer for `key` now, if it is still within its failure window. */
  get(key: string, now: number): M2MError | undefined {
    if (this.#failures.size === 0) return undefined;
    const entry = this.#failures.get(key);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.#failures.delete(key);
      return undefined;
    }
    return entry.retryAt === undefined ? entry.error : withRetryAfterMs(entry.error, entry.retryAt - now);
  }

  record(key: string, error: M2MError, now: number): void {
    const { transient, retryAfterMs } = error as { transient?: boolean; retryAfterMs?: number };
    const retryAfter = typeof retryAfterMs === "number" && retryAfterMs > 0 ? retryAfterMs : undefined;
    let forMs: number;
    if (retryAfter !== undefined) forMs = Math.min(retryAfter, MAX_FAILED_KEY_MS);
    else if (transient === false) forMs = FAILED_KEY_MS;
    else return;
    this.#failures.set(key, {
      error,
      until: now + forMs,
      retryAt: retryAfter === undefined ? undefined : now + retryAfter,
    });
  }

  delete(key: string): void {
    this.#failures.delete(key);
  }

  clear(): void {
    this.#failures.clear();
  }
}

/** A copy of `error` (same class, message, cause and stack) whose `retryAfterMs` is `ms`. */
function withRetryAfterMs(error: M2MError, ms: number): M2MError {
  if ((error as { retryAfterMs?: number }).retryAfterMs === ms) return error;
  const copy = Object.create(
    Object.getPrototypeOf(error),
    Object.getOwnPropertyDescriptors(error),
  ) as M2MError;
  Object.defineProperty(copy, "retryAfterMs", { value: ms });
  return copy;
}
