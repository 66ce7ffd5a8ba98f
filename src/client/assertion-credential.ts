/**
 * A credential read from an assertion source: a client assertion, or a grant's assertion or subject
 * token. Read afresh for every token request; its identity (a hash of `iss`, `sub` and `aud`) is the
 * credential's part of the cache key, so that a rotated token of the same workload keeps the cached
 * access token and two workloads never share one.
 */
import type { AssertionParameter } from "../errors.js";
import { type Clock, raceAbort } from "../lib/clock.js";
import { type RetryPolicy, withRetry } from "../lib/retry.js";
import { requestScopedIo } from "../lib/runtime.js";
import { checkExpiry, type ReadAssertion, readAssertion } from "../workload/assertion.js";
import { type ResolvedSource, SourceFailure, sourceFailure } from "../workload/source.js";
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
  /** Bound of each read, in ms (the client's `timeoutMs`). */
  timeoutMs: number;
  /** The client's retry policy: a transient failure of the first read is retried as a request's is. */
  retry: RetryPolicy | false;
}

export class AssertionCredential implements CredentialFingerprint {
  #identity: string | undefined;
  #learning: Promise<string> | undefined;
  #prefetched: { read: ReadAssertion; at: number } | undefined;
  /** Stops the first read, with its retries, when the client closes. */
  #controller: AbortController | undefined;

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
    const { clock, retry } = this.config;
    const controller = new AbortController();
    this.#controller = controller;
    const { signal } = controller;
    try {
      const read = await withRetry(() => this.#read(signal), { policy: retry, clock, signal });
      this.#prefetched = { read, at: clock.now() };
      this.#identity ??= read.identity;
      return this.#identity;
    } finally {
      if (this.#controller === controller) this.#controller = undefined;
    }
  }

  /** Stops a first read in flight (the client closing): it rejects with `reason`. */
  close(reason: unknown): void {
    try {
      this.#controller?.abort(reason);
    } catch {
      // Another request's controller on a request-scoped runtime: that read ends on its own.
    }
  }

  /** The assertion for one token request: read now (or just before, by `current`), checked for expiry. */
  async take(signal: AbortSignal): Promise<ReadAssertion> {
    const prefetched = this.#prefetched;
    this.#prefetched = undefined;
    const now = this.config.clock.now();
    const read =
      prefetched && now - prefetched.at <= PREFETCH_MAX_AGE_MS && now >= prefetched.at
        ? prefetched.read
        : await this.#read(signal);
    this.#identity = read.identity;
    checkExpiry(read, {
      parameter: this.config.parameter,
      source: this.source.description,
      now: this.config.clock.now(),
      minRemainingMs: this.config.minRemainingMs,
    });
    return read;
  }

  /**
   * One read, bounded by `timeoutMs` whether or not the source heeds its signal; `callers` is the
   * signal of the request it is for (its abort is passed on as it is).
   */
  async #read(callers: AbortSignal | undefined): Promise<ReadAssertion> {
    const { parameter, jwt, timeoutMs } = this.config;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = callers ? AbortSignal.any([callers, timeout]) : timeout;
    let raw: string;
    try {
      raw = await raceAbort(this.source.read({ signal }), signal);
    } catch (error) {
      if (callers?.aborted) throw callers.reason;
      const failure = timeout.aborted
        ? new SourceFailure(`no answer within ${timeoutMs} ms`, { transient: true, cause: error })
        : error;
      throw sourceFailure(failure, this.source, parameter);
    }
    return readAssertion(raw, { parameter, source: this.source.description, jwt, identity: "claims" });
  }
}
