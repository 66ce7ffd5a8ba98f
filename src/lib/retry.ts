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

const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = `(?:${DAY_NAMES.join("|")})`;
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
/** RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** The obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(`^(?:${LONG_DAY_NAMES.join("|")}), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** The obsolete asctime() form: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch of a valid calendar date and time, else `undefined`. */
function utc(year: number, month: string, day: number, hour: number, minute: number, second: number) {
  const m = MONTHS.indexOf(month);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, m, day);
  // 31 Feb, 00 Jan: not a date (Date would roll it over).
  if (date.getUTCDate() !== day || date.getUTCMonth() !== m) return undefined;
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}

/**
 * An HTTP-date (RFC 9110 §5.6.7) in ms since the epoch: IMF-fixdate, and the two obsolete forms a
 * recipient must accept (RFC 850, whose two-digit year more than 50 years ahead of `now` is taken in
 * the past century, and asctime). `undefined` for anything else.
 */
export function parseHttpDate(value: string, now: number): number | undefined {
  const n = Number;
  let match = IMF_FIXDATE.exec(value);
  if (match) {
    const [, day, month, year, h, m, s] = match as unknown as string[];
    return utc(n(year), month as string, n(day), n(h), n(m), n(s));
  }
  match = RFC850_DATE.exec(value);
  if (match) {
    const [, day, month, yy, h, m, s] = match as unknown as string[];
    const current = new Date(now).getUTCFullYear();
    let year = current - (current % 100) + n(yy);
    if (year > current + 50) year -= 100;
    return utc(year, month as string, n(day), n(h), n(m), n(s));
  }
  match = ASCTIME_DATE.exec(value);
  if (match) {
    const [, month, day, h, m, s, year] = match as unknown as string[];
    return utc(n(year), month as string, n((day as string).trim()), n(h), n(m), n(s));
  }
  return undefined;
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) in milliseconds: delay-seconds (`1*DIGIT`) or an HTTP-date (see
 * {@link parseHttpDate}; a date in the past is 0). Anything else (`-5`, `1.5`, `10, 20`, an ISO date)
 * is not a Retry-After and gives `undefined`: the back-off applies, never a wait of 0.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = parseHttpDate(trimmed, now);
  return date === undefined ? undefined : Math.max(0, date - now);
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
