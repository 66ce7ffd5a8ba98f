import type { JWK } from "jose";
import { InvalidTokenError, VerifierUnavailableError } from "../errors.js";
import { type FetchLike, fetchText, parseJsonObject, TimeoutReached } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import type { Platform } from "../platform/types.js";
import { jwkFitsAlg } from "./algorithms.js";

/** JWKS cache settings. */
export interface JwksOptions {
  /** Keys are refetched after this long, or after the server's `Cache-Control: max-age` if shorter. Default 600 000. */
  cacheMaxAgeMs?: number;
  /** At most one fetch per this period, whatever the request rate (unknown `kid`s). Default 30 000. */
  cooldownMs?: number;
  /** Timeout of each JWKS request. Default 5 000. */
  timeoutMs?: number;
  /** When refreshes fail, the last good keys are used for this long after they were fetched. Default 86 400 000. */
  staleMaxAgeMs?: number;
}

export type JwksSettings = Required<JwksOptions>;

export const DEFAULT_JWKS: JwksSettings = Object.freeze({
  cacheMaxAgeMs: 600_000,
  cooldownMs: 30_000,
  timeoutMs: 5_000,
  staleMaxAgeMs: 86_400_000,
});

interface KeySet {
  text: string;
  keys: JWK[];
  fetchedAt: number;
  maxAgeMs: number;
}

/**
 * A remote JWKS: fetched once, cached, one fetch in flight, refetched after its max age or on an
 * unknown `kid` at most once per cooldown, served stale when the endpoint fails (up to
 * `staleMaxAgeMs`). Each key is imported once per algorithm. No per-`kid` state is kept for
 * unknown `kid`s: the cooldown bounds both fetches and memory under a random-`kid` flood.
 */
export class RemoteJwks<Key> {
  readonly uri: string;
  readonly #settings: JwksSettings;
  readonly #fetch: FetchLike;
  readonly #run: RunOperation;
  readonly #now: () => number;
  readonly #platform: Platform<Key>;
  #set: KeySet | undefined;
  /** kid → alg → imported key; cleared whenever the key set changes. */
  #resolved = new Map<string | undefined, Map<string, Key>>();
  #inflight: Promise<void> | undefined;
  #lastAttemptAt: number | undefined;
  #lastError: VerifierUnavailableError | undefined;
  #version = 0;
  #fetches = 0;

  constructor(
    uri: string,
    settings: JwksSettings,
    fetchImpl: FetchLike,
    now: () => number,
    platform: Platform<Key>,
    run: RunOperation = (_operation, work) => work(),
  ) {
    this.uri = uri;
    this.#settings = settings;
    this.#fetch = fetchImpl;
    this.#now = now;
    this.#platform = platform;
    this.#run = run;
  }

  /** Incremented whenever the fetched key set differs from the previous one. */
  get version(): number {
    return this.#version;
  }

  /** Whether keys are cached and younger than their max age. */
  get fresh(): boolean {
    return this.#set !== undefined && this.#now() - this.#set.fetchedAt < this.#set.maxAgeMs;
  }

  /** Whether a fetch happened less than `cooldownMs` ago (another one would wait). */
  get coolingDown(): boolean {
    return this.#lastAttemptAt !== undefined && this.#now() - this.#lastAttemptAt < this.#settings.cooldownMs;
  }

  /** When the keys were last fetched successfully, ms since the epoch. */
  get lastRefreshAt(): number | undefined {
    return this.#set?.fetchedAt;
  }

  /** Number of JWKS requests made so far. */
  get fetchCount(): number {
    return this.#fetches;
  }

  /** Number of keys in the cached set. */
  get keyCount(): number {
    return this.#set?.keys.length ?? 0;
  }

  /**
   * Starts a background refresh when the keys are past their max age (and not cooling down), so that
   * a removed key is noticed even when every token is answered from the verified-token cache.
   */
  revalidate(): void {
    if (!this.fresh && this.#set && !this.coolingDown) this.#refresh().catch(() => {});
  }

  /** Fetches the keys now (e.g. at start-up). Rejects with `VerifierUnavailableError`. */
  async warmUp(): Promise<void> {
    await this.#refresh();
  }

  /** The key for `alg` and `kid` when it is imported and the set is fresh; otherwise `undefined`. */
  cachedKey(alg: string, kid: string | undefined): Key | undefined {
    const key = this.#resolved.get(kid)?.get(alg);
    return key !== undefined && this.fresh ? key : undefined;
  }

  /**
   * The key for a token's `alg` and `kid`. Throws `InvalidTokenError` (`ERR_JWKS_NO_MATCHING_KEY`)
   * when no key fits, `VerifierUnavailableError` when keys are needed and cannot be fetched.
   */
  async getKey(alg: string, kid: string | undefined): Promise<Key> {
    let set = this.#set;
    if (!set) {
      if (this.coolingDown && this.#lastError) throw this.#lastError;
      await this.#refresh();
      set = this.#set as KeySet;
    } else {
      const age = this.#now() - set.fetchedAt;
      if (age >= set.maxAgeMs && age < this.#settings.staleMaxAgeMs) {
        // Stale-while-revalidate: the cached keys serve this call; a failed refresh keeps them.
        if (!this.coolingDown) this.#refresh().catch(() => {});
      } else if (age >= this.#settings.staleMaxAgeMs) {
        if (this.coolingDown) {
          throw this.#lastError ?? new VerifierUnavailableError(`JWKS at ${this.uri} is too old to trust`);
        }
        await this.#refresh();
        set = this.#set as KeySet;
      }
    }

    let jwk = findKey(set.keys, alg, kid);
    if (!jwk && !this.coolingDown) {
      // An unknown kid may be a new key: refetch, at most once per cooldown.
      await this.#refresh();
      jwk = findKey((this.#set as KeySet).keys, alg, kid);
    }
    if (!jwk) {
      throw new InvalidTokenError(
        "ERR_JWKS_NO_MATCHING_KEY",
        kid === undefined
          ? `no single key in the JWKS fits ${alg}`
          : `no key in the JWKS has this kid for ${alg}`,
      );
    }
    return this.#import(jwk, alg, kid);
  }

  async #import(jwk: JWK, alg: string, kid: string | undefined): Promise<Key> {
    const known = this.#resolved.get(kid)?.get(alg);
    if (known !== undefined) return known;
    const version = this.#version;
    let key: Key;
    try {
      key = await this.#platform.importKey(jwk, alg);
    } catch (cause) {
      throw new InvalidTokenError("ERR_JWKS_NO_MATCHING_KEY", `the JWKS key for ${alg} cannot be imported`, {
        cause,
      });
    }
    if (version === this.#version) {
      let byAlg = this.#resolved.get(kid);
      if (!byAlg) {
        byAlg = new Map();
        this.#resolved.set(kid, byAlg);
      }
      byAlg.set(alg, key);
    }
    return key;
  }

  #refresh(): Promise<void> {
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<void> {
    this.#lastAttemptAt = this.#now();
    this.#fetches++;
    try {
      const set = await this.#run({ kind: "jwks_fetch", uri: this.uri }, () => this.#fetchSet());
      this.#lastError = undefined;
      if (set.text !== this.#set?.text) {
        this.#version++;
        this.#resolved = new Map();
      }
      this.#set = set;
    } catch (error) {
      this.#lastError = error as VerifierUnavailableError;
      throw error;
    }
  }

  async #fetchSet(): Promise<KeySet> {
    const unavailable = (reason: string, cause?: unknown) =>
      new VerifierUnavailableError(`JWKS at ${this.uri} unavailable: ${reason}`, { cause });
    let response: Response;
    let text: string;
    try {
      ({ response, text } = await fetchText(
        this.#fetch,
        this.uri,
        { method: "GET", headers: { accept: "application/json, application/jwk-set+json" } },
        this.#settings.timeoutMs,
      ));
    } catch (error) {
      throw unavailable(
        error instanceof TimeoutReached ? `timed out after ${error.timeoutMs} ms` : "network error",
        error,
      );
    }
    if (!response.ok) throw unavailable(`HTTP ${response.status}`);
    const body = parseJsonObject(text);
    if (!body || !Array.isArray(body.keys)) throw unavailable("not a JWK set");
    // Only public signature keys; a private or symmetric key in a JWKS is never used.
    const keys = body.keys.filter(
      (k): k is JWK =>
        typeof k === "object" &&
        k !== null &&
        typeof k.kty === "string" &&
        k.kty !== "oct" &&
        k.d === undefined,
    );
    return {
      text,
      keys,
      fetchedAt: this.#now(),
      maxAgeMs: this.#maxAge(response.headers.get("cache-control")),
    };
  }

  /** `Cache-Control: max-age` shortens the cache time, but never below the cooldown. */
  #maxAge(cacheControl: string | null): number {
    const match = cacheControl ? /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(cacheControl) : null;
    if (!match) return this.#settings.cacheMaxAgeMs;
    const seconds = Number(match[1]);
    return Math.max(this.#settings.cooldownMs, Math.min(this.#settings.cacheMaxAgeMs, seconds * 1000));
  }
}

/** With a `kid`: the key with that `kid` that fits `alg`. Without: the only key that fits `alg`. */
function findKey(keys: readonly JWK[], alg: string, kid: string | undefined): JWK | undefined {
  let found: JWK | undefined;
  for (const key of keys) {
    if (kid !== undefined && key.kid !== kid) continue;
    if (!jwkFitsAlg(key, alg)) continue;
    if (kid !== undefined) return key;
    if (found) return undefined;
    found = key;
  }
  return found;
}
