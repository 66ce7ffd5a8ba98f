import type { Clock } from "./clock.js";
import type { OptionNames } from "./option-names.js";

/** Retry policy for transient failures (network errors, timeouts, 5xx, 429). */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Base of the exponential back-off. Default 200 ms. */
  minDelayMs?: number;
  /** Longest single wait, also the longest `Retry-After` that is honoured. Default 10 000 ms. */
  maxDelayMs?: number;
  /** No retry starts after this much time since the first attempt. Default 30 000 ms. */
  maxElapsedMs?: number;
}

/** The names of {@link RetryOptions}. */
export const RETRY_OPTION_NAMES: OptionNames<RetryOptions> = {
  retries: true,
  minDelayMs: true,
  maxDelayMs: true,
  maxElapsedMs: true,
};

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = /* @__PURE__ */ Object.freeze({
  retries: 3,
  minDelayMs: 200,
  maxDelayMs: 10_000,
  maxElapsedMs: 30_000,
});

/** What an attempt's failure says about trying again. */
export interface Retryable {
  transient: boolean;
  retryAfterMs?: number | undefined;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  error: unknown;
}

function isRetryable(error: unknown): error is Retryable {
  return typeof error === "object" && error !== null && (error as Retryable).transient === true;
}

/** Full-jitter exponential back-off: a random wait in [0, min(max, min · 2^attempt)]. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in milliseconds. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, or the policy is spent.
 * The last error is thrown as it is.
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: {
    policy: RetryPolicy | false;
    clock: Clock;
    signal: AbortSignal;
    onRetry?: (info: RetryInfo) => void;
  },
): Promise<T> {
  const { policy, clock, signal } = options;
  const started = clock.now();
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!policy || signal.aborted || !isRetryable(error) || n >= policy.retries) throw error;
      const delayMs = error.retryAfterMs ?? backoffDelay(n, policy);
      if (delayMs > policy.maxDelayMs) throw error;
      if (clock.now() - started + delayMs > policy.maxElapsedMs) throw error;
      options.onRetry?.({ attempt: n + 1, delayMs, error });
      await clock.sleep(delayMs, signal);
    }
  }
}
