/**
 * A credential read from an assertion source: a client assertion, or a grant's assertion or subject
 * token. Read afresh for every token request; its identity (a hash of `iss`, `sub` and `aud`) is the
 * credential's part of the cache key, so that a rotated token of the same workload keeps the cached
 * access token and two workloads never share one.
 */
import type { AssertionParameter } from "../errors.js";
import type { Clock } from "../lib/clock.js";
import { type RetryPolicy, withRetry } from "../lib/retry.js";
import { requestScopedIo } from "../lib/runtime.js";
import { checkExpiry, type ReadAssertion, readAssertion } from "../workload/assertion.js";
import { type ResolvedSource, sourceFailure } from "../workload/source.js";
import type { CredentialFingerprint } from "./cache-partition.js";
import type { MaybePromise } from "./store.js";

/**
 * An assertion read to learn the identity, on the first call, is used by the token request that
 * follows within this long (ms) instead of being read a second time.
 */
const PREFETCH_MAX_AGE_MS = 2_000;

export interface AssertionCredentialConfig {
  parameter: AssertionParameter;
  /** Refuse an assertion expiring sooner than this, in ms. */
  minRemainingMs: number;
  /** A JWT with `exp` is required. */
  jwt: boolean;
  clock: Clock;
  /** Bound of the first read (the one that learns the identity, outside any token request), in ms. */
  timeoutMs: number;
  /** The client's retry policy: a transient failure of the first read is retried as a request's is. */
  retry: RetryPolicy | false;
}

export class AssertionCredential implements CredentialFingerprint {
  #identity: string | undefined;
  #learning: Promise<string> | undefined;
  #prefetched: { read: ReadAssertion; at: number } | undefined;

  constructor(
    readonly source: ResolvedSource,
    private readonly config: AssertionCredentialConfig,
  ) {}

  /**
   * The identity of the assertion read last; the first call reads one. A read for a token request that
   * finds another identity changes it (the cache key then changes with it).
   */
  current(): MaybePromise<string> {
    if (this.#identity !== undefined) return this.#identity;
    if (requestScopedIo) return this.#learn();
    this.#learning ??= this.#learn().finally(() => {
      this.#learning = undefined;
    });
    return this.#learning;
  }

  async #learn(): Promise<string> {
    const { clock, retry, timeoutMs } = this.config;
    const signal = new AbortController().signal;
    const read = await withRetry(() => this.#read(AbortSignal.timeout(timeoutMs), false), {
      policy: retry,
      clock,
      signal,
    });
    this.#prefetched = { read, at: clock.now() };
    this.#identity ??= read.identity;
    return this.#identity;
  }

  /** The assertion for one token request: read now (or just before, by `current`), checked for expiry. */
  async take(signal: AbortSignal): Promise<ReadAssertion> {
    const prefetched = this.#prefetched;
    this.#prefetched = undefined;
    const now = this.config.clock.now();
    const read =
      prefetched && now - prefetched.at <= PREFETCH_MAX_AGE_MS && now >= prefetched.at
        ? prefetched.read
        : await this.#read(signal, true);
    this.#identity = read.identity;
    checkExpiry(read, {
      parameter: this.config.parameter,
      source: this.source.description,
      now: this.config.clock.now(),
      minRemainingMs: this.config.minRemainingMs,
    });
    return read;
  }

  /** `callers`: the signal is the callers' (their abort is passed on), not this read's own timeout. */
  async #read(signal: AbortSignal, callers: boolean): Promise<ReadAssertion> {
    const { parameter, jwt } = this.config;
    let raw: string;
    try {
      raw = await this.source.read({ signal });
    } catch (error) {
      if (callers && signal.aborted) throw signal.reason;
      throw sourceFailure(error, this.source, parameter);
    }
    return readAssertion(raw, { parameter, source: this.source.description, jwt, identity: "claims" });
  }
}
