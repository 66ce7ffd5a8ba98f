import { LRUCache } from "lru-cache";

/** `retryOnUnauthorized`: resend after a 401 for every method, only idempotent ones, or never. */
export type RetryOnUnauthorized = boolean | "idempotent";

/** First back-off after a replacement token was refused too; doubles per refusal, up to the max. */
export const UNAUTHORIZED_BACKOFF_MS = 30_000;
export const UNAUTHORIZED_MAX_BACKOFF_MS = 600_000;

// RFC 9110 §9.2.2.
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** What `client.fetch` does with a 401 answer. */
export type UnauthorizedDecision =
  /** Drop the token, get a replacement, send the request once more. */
  | { action: "replace" }
  /** Return the 401 to the caller and keep the token; `backoffMs` is set when the key backs off now. */
  | {
      action: "return";
      reason: "disabled" | "not_replayable" | "fresh_token_refused" | "backing_off";
      backoffMs?: number;
    };

/**
 * The 401 policy of `client.fetch`. The first 401 of a token replaces it once, however young it is:
 * the API may have revoked it (a rotated secret, an admin action). A 401 may also mean "wrong
 * audience" or "missing role", which no new token cures: when the replacement is refused too, the 401
 * goes to the caller, the token is kept, and the key backs off (30 s, doubling up to 10 min while
 * replacements keep being refused; any other answer ends it), so a wrong audience never turns into a
 * token storm. Back-off state is bounded (least recently used keys go first).
 */
export class UnauthorizedPolicy {
  readonly #backoff: LRUCache<string, { until: number; nextMs: number }>;

  constructor(
    private readonly retry: RetryOnUnauthorized,
    maxEntries: number,
  ) {
    this.#backoff = new LRUCache({ max: maxEntries });
  }

  /**
   * After a 401. `replacement`: the refused token is the one that replaced a refused token for this
   * very call, so another one would most likely be refused too.
   */
  decide(
    key: string,
    request: { method: string; replayable: boolean; replacement: boolean },
    now: number,
  ): UnauthorizedDecision {
    const state = this.#backoff.get(key);
    if (state && now < state.until) return { action: "return", reason: "backing_off" };
    if (
      this.retry === false ||
      (this.retry === "idempotent" && !IDEMPOTENT.has(request.method.toUpperCase()))
    ) {
      return { action: "return", reason: "disabled" };
    }
    if (request.replacement) {
      const backoffMs = state?.nextMs ?? UNAUTHORIZED_BACKOFF_MS;
      this.#backoff.set(key, {
        until: now + backoffMs,
        nextMs: Math.min(backoffMs * 2, UNAUTHORIZED_MAX_BACKOFF_MS),
      });
      return { action: "return", reason: "fresh_token_refused", backoffMs };
    }
    if (!request.replayable) return { action: "return", reason: "not_replayable" };
    return { action: "replace" };
  }

  /** An answer other than 401 with this key's token: the back-off ends. */
  accepted(key: string): void {
    if (this.#backoff.size > 0) this.#backoff.delete(key);
  }

  /** `invalidate`: start over. */
  clear(): void {
    this.#backoff.clear();
  }
}
