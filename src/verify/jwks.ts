import type { JWK } from "jose";
import { InvalidTokenError, VerifierUnavailableError } from "../errors.js";
import { type FetchLike, fetchText } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import { describeNetworkError } from "../lib/network-error.js";
import { requestScopedIo, type WaitUntil } from "../lib/runtime.js";
import type { Platform } from "../platform/types.js";
import { emitTo, type VerifierEventListener } from "./events.js";
import type { JwksSettings } from "./jwks-options.js";
import { findKeys, parseKeySet } from "./key-set.js";
import type { SharedDocuments } from "./key-value-store.js";

export {
  DEFAULT_JWKS,
  JWKS_OPTION_NAMES,
  JWKS_STORE_OPTIONS,
  type JwksOptions,
  type JwksSettings,
} from "./jwks-options.js";

/**
 * Most keys a token without `kid` is tried against (keys of the set that fit its `alg`). A provider
 * that omits `kid` publishes two keys during a rotation, sometimes three (previous, current, next).
 */
export const MAX_KIDLESS_CANDIDATES = 4;

/** After a failed refresh, the next scheduled one waits this long, doubling per failure up to the cap. */
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 300_000;

interface KeySet {
  text: string;
  keys: JWK[];
  fetchedAt: number;
  maxAgeMs: number;
  /** The server's `Cache-Control: max-age`, in seconds, when it sent one. */
  serverMaxAgeSeconds: number | undefined;
}

/**
 * Why keys are loaded. `first`: none yet (the store is read first; a fetch starts the cooldown);
 * `refresh`: past their max age (the store is read first); `missing-key`: a token's key is not in
 * the set (starts the cooldown; always fetched, since the store may hold the same old set).
 */
type LoadReason = "first" | "refresh" | "missing-key";

/**
 * A remote JWKS: fetched once, cached, one fetch in flight, refreshed after its max age (in the
 * background: the cached keys keep serving), refetched for a key it does not hold at most once per
 * cooldown, served stale when the endpoint fails (up to `staleMaxAgeMs`), with a growing back-off
 * between failed refreshes. Each key is imported once per algorithm. No per-`kid` state is kept for
 * unknown `kid`s: the cooldown bounds both fetches and memory under a random-`kid` flood.
 *
 * Every path that finds no key first waits for a refresh already in flight (OIDC Core §10.1.1: an
 * unfamiliar `kid` means the keys changed), so a rotation is never refused because a background
 * refresh happened to be running.
 *
 * With a shared store (`jwks.store`), a verifier without keys, and a scheduled refresh, first read
 * the store: an authentic entry newer than the cached set is used as if it had been fetched at the
 * time it was; younger than its max age it is used without a request, older it serves only when the
 * fetch fails. Each fetched set is written back.
 */
export class RemoteJwks<Key> {
  readonly uri: string;
  readonly #settings: JwksSettings;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #platform: Platform<Key>;
  readonly #onEvent: VerifierEventListener | undefined;
  readonly #run: RunOperation;
  readonly #shared: SharedDocuments | undefined;
  #set: KeySet | undefined;
  /** kid → alg → imported keys that fit; cleared whenever the key set changes. */
  #resolved = new Map<string | undefined, Map<string, readonly Key[]>>();
  #inflight: Promise<void> | undefined;
  /** Start of the cooldown: the first fetch and every refetch for a missing key. */
  #cooldownFrom: number | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastAttemptAt = 0;
  #lastError: VerifierUnavailableError | undefined;
  #version = 0;
  #fetches = 0;
  /** Loads started and the newest one applied: on Workers loads overlap, and an older answer never
   * replaces a newer one. */
  #started = 0;
  #applied = 0;
  /** When the shared store was last read for a scheduled refresh. */
  #storeReadAt: number | undefined;

  constructor(
    uri: string,
    settings: JwksSettings,
    fetchImpl: FetchLike,
    now: () => number,
    platform: Platform<Key>,
    onEvent?: VerifierEventListener,
    run: RunOperation = (_operation, work) => work(),
    shared?: SharedDocuments,
  ) {
    this.uri = uri;
    this.#settings = settings;
    this.#fetch = fetchImpl;
    this.#now = now;
    this.#platform = platform;
    this.#onEvent = onEvent;
    this.#run = run;
    this.#shared = shared;
  }

  /** Incremented whenever the fetched key set differs from the previous one. */
  get version(): number {
    return this.#version;
  }

  /** Whether keys are cached and younger than their max age. */
  get fresh(): boolean {
    return this.#set !== undefined && this.#now() - this.#set.fetchedAt < this.#set.maxAgeMs;
  }

  /** Whether a refetch for a missing key would be refused now (less than `cooldownMs` since the last). */
  get coolingDown(): boolean {
    return this.#cooldownFrom !== undefined && this.#now() - this.#cooldownFrom < this.#settings.cooldownMs;
  }

  /** Whether scheduled refreshes are backing off after failures. */
  get backingOff(): boolean {
    return this.#failures > 0 && this.#now() < this.#retryAt;
  }

  /** Whether a fetch is in flight. */
  get refreshing(): boolean {
    return this.#inflight !== undefined;
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
   * Starts a background refresh when the keys are past their max age (and refreshes are not backing
   * off), so that a removed key is noticed even when every token is answered from a cache.
   * `waitUntil` receives it (a Worker's `ctx.waitUntil`). Returns a promise only when the caller must
   * wait for it: on Workers without `waitUntil`, where a fetch left open by a finished request
   * never completes.
   */
  revalidate(waitUntil?: WaitUntil): Promise<void> | undefined {
    if (!this.#set || this.fresh || this.#inflight || this.backingOff) return undefined;
    // Workers share no fetch in flight: concurrent requests leave the refresh to the first one for
    // as long as it may take.
    if (requestScopedIo && this.#now() - this.#lastAttemptAt < this.#settings.timeoutMs) return undefined;
    return this.#background(waitUntil);
  }

  /**
   * Fetches the keys now (e.g. at start-up); with a shared store, a fresh entry there is used
   * instead. Rejects with `VerifierUnavailableError`.
   */
  async warmUp(): Promise<void> {
    if (this.#set === undefined) {
      await this.#refresh("first");
      if (this.fresh) return;
    }
    await this.#refresh("missing-key");
  }

  /** The imported keys for `alg` and `kid` when the set is fresh and they were imported before. */
  cachedKeys(alg: string, kid: string | undefined): readonly Key[] | undefined {
    const keys = this.#resolved.get(kid)?.get(alg);
    return keys !== undefined && this.fresh ? keys : undefined;
  }

  /**
   * The keys a token's signature is checked against: the key with its `kid`, or without `kid` every
   * key that fits `alg` (at most {@link MAX_KIDLESS_CANDIDATES}). Throws `InvalidTokenError`
   * (`ERR_JWKS_NO_MATCHING_KEY`) when none fits, `VerifierUnavailableError` when keys are needed and
   * cannot be fetched.
   */
  async getKeys(alg: string, kid: string | undefined, waitUntil?: WaitUntil): Promise<readonly Key[]> {
    let set = this.#set;
    if (!set) {
      // A failure leaves no keys, unless a concurrent load (or the shared store) brought some.
      const keepAny = (error: unknown) => {
        if (!this.#set) throw error;
      };
      if (this.#inflight) await this.#join().catch(keepAny);
      else if (this.#failedRecently() && this.#lastError) throw this.#lastError;
      else await this.#refresh("first", false, waitUntil).catch(keepAny);
      set = this.#set;
      if (!set) throw this.#lastError ?? new VerifierUnavailableError(`JWKS at ${this.uri} unavailable`);
    }
    // Keys just fetched are fresh; keys from the shared store are as old as their entry.
    const age = this.#now() - set.fetchedAt;
    if (age >= this.#settings.staleMaxAgeMs) {
      if (this.#inflight) await this.#join().catch(() => {});
      else if (!this.#failedRecently()) await this.#refresh("refresh", false, waitUntil).catch(() => {});
      set = this.#set as KeySet;
      if (this.#now() - set.fetchedAt >= this.#settings.staleMaxAgeMs) {
        throw this.#lastError ?? new VerifierUnavailableError(`JWKS at ${this.uri} is too old to trust`);
      }
    } else if (age >= set.maxAgeMs) {
      // Stale-while-revalidate: the cached keys serve this call; a failed refresh keeps them.
      emitTo(this.#onEvent, { type: "jwks_stale", uri: this.uri, ageMs: age });
      const waiting = this.revalidate(waitUntil);
      if (waiting) {
        await waiting;
        set = this.#set as KeySet;
      }
    }

    let jwks = findKeys(set.keys, alg, kid);
    if (jwks.length === 0 && (await this.refetchForMissingKey(this.#version, waitUntil))) {
      jwks = findKeys((this.#set as KeySet).keys, alg, kid);
    }
    if (jwks.length === 0) {
      throw new InvalidTokenError(
        "ERR_JWKS_NO_MATCHING_KEY",
        kid === undefined ? `no key in the JWKS fits ${alg}` : `no key in the JWKS has this kid for ${alg}`,
      );
    }
    if (jwks.length > MAX_KIDLESS_CANDIDATES) {
      throw new InvalidTokenError(
        "ERR_JWKS_NO_MATCHING_KEY",
        `token has no kid and more than ${MAX_KIDLESS_CANDIDATES} keys in the JWKS fit ${alg}`,
      );
    }
    return this.#import(jwks, alg, kid);
  }

  /**
   * A token's key is not in the set seen at `version`: the keys may have rotated. Waits for a refresh
   * in flight, else refetches unless cooling down. Resolves `true` when the set has changed since
   * `version` (look again), `false` otherwise; rejects when the refetch fails.
   */
  async refetchForMissingKey(version: number, waitUntil?: WaitUntil): Promise<boolean> {
    if (this.#version !== version) return true;
    if (this.#inflight) {
      await this.#join().catch(() => {});
      if (this.#version !== version) return true;
    }
    if (this.coolingDown) {
      emitTo(this.#onEvent, {
        type: "jwks_cooldown",
        uri: this.uri,
        retryInMs: (this.#cooldownFrom as number) + this.#settings.cooldownMs - this.#now(),
      });
      return false;
    }
    await this.#refresh("missing-key", false, waitUntil);
    return this.#version !== version;
  }

  async #import(jwks: readonly JWK[], alg: string, kid: string | undefined): Promise<readonly Key[]> {
    const known = this.#resolved.get(kid)?.get(alg);
    if (known !== undefined) return known;
    const version = this.#version;
    const keys: Key[] = [];
    let failure: unknown;
    for (const jwk of jwks) {
      try {
        keys.push(await this.#platform.importKey(jwk, alg));
      } catch (cause) {
        failure = cause;
      }
    }
    if (keys.length === 0) {
      throw new InvalidTokenError("ERR_JWKS_NO_MATCHING_KEY", `the JWKS key for ${alg} cannot be imported`, {
        cause: failure,
      });
    }
    if (version === this.#version) {
      let byAlg = this.#resolved.get(kid);
      if (!byAlg) {
        byAlg = new Map();
        this.#resolved.set(kid, byAlg);
      }
      byAlg.set(alg, keys);
    }
    return keys;
  }

  /**
   * Without usable keys every request would fail anyway: a failed fetch is retried once per
   * cooldown (not per request), without the growing back-off of background refreshes.
   */
  #failedRecently(): boolean {
    return this.#lastError !== undefined && this.#now() - this.#lastAttemptAt < this.#settings.cooldownMs;
  }

  /**
   * Waits for the fetch in flight. On runtimes where one request must not await another request's
   * I/O (DESIGN: "Shared state across requests") there is never one to join: `#refresh` keeps none.
   */
  #join(): Promise<void> {
    return this.#inflight as Promise<void>;
  }

  /**
   * A refresh nobody waits for; its failure is recorded (and reported), not thrown. Handed to
   * `waitUntil` when given; on Workers without one, returned for the caller to await.
   */
  #background(waitUntil?: WaitUntil): Promise<void> | undefined {
    const refresh = this.#refresh("refresh", true).catch(() => {});
    if (waitUntil) waitUntil(refresh);
    else if (requestScopedIo) return refresh;
    return undefined;
  }

  /**
   * One load in flight; a refetch for a missing key starts the cooldown, and so does the first
   * fetch. On Workers each caller loads on its own (lib/runtime.ts), still bounded by the cooldown.
   * `waitUntil` receives the write to the shared store of a set fetched in the foreground.
   */
  #refresh(reason: LoadReason, background = false, waitUntil?: WaitUntil): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (requestScopedIo) return this.#load(reason, background, waitUntil);
    const pending = this.#load(reason, background, waitUntil).finally(() => {
      if (this.#inflight === pending) this.#inflight = undefined;
    });
    this.#inflight = pending;
    return pending;
  }

  async #load(reason: LoadReason, background: boolean, waitUntil: WaitUntil | undefined): Promise<void> {
    const sequence = ++this.#started;
    if (this.#shared !== undefined && this.#readsStore(reason)) {
      this.#storeReadAt = this.#now();
      const stored = await this.#shared.read("jwks", this.uri, this.#settings.staleMaxAgeMs, parseKeySet);
      if (
        stored !== undefined &&
        sequence >= this.#applied &&
        (this.#set === undefined || stored.fetchedAt > this.#set.fetchedAt)
      ) {
        this.#apply(sequence, {
          ...stored.value,
          fetchedAt: stored.fetchedAt,
          maxAgeMs: this.#maxAge(stored.maxAgeSeconds),
          serverMaxAgeSeconds: stored.maxAgeSeconds,
        });
      }
      // Fresh keys do. A stored set past its max age serves only if the fetch fails (stale-if-error):
      // anyone who can write to the store can put an old authentic entry back, with a key the issuer
      // has removed since, and it must not outrank the key set itself.
      if (this.fresh) return;
    }
    const started = this.#now();
    this.#lastAttemptAt = started;
    // The first fetch starts the cooldown, as in jose (a set read from the store does not).
    if (reason !== "refresh" || this.#cooldownFrom === undefined) this.#cooldownFrom = started;
    this.#fetches++;
    try {
      const set = await this.#run({ kind: "jwks_fetch", uri: this.uri }, () => this.#fetchSet());
      if (sequence < this.#applied) return;
      this.#lastError = undefined;
      this.#failures = 0;
      const changed = this.#apply(sequence, set);
      const sharing = this.#share(set, background, waitUntil);
      emitTo(this.#onEvent, {
        type: "jwks_fetched",
        uri: this.uri,
        durationMs: this.#now() - started,
        keyCount: set.keys.length,
        changed,
        background,
      });
      await sharing;
    } catch (error) {
      const unavailable = error as VerifierUnavailableError;
      this.#lastError = unavailable;
      this.#failures++;
      const delay = Math.min(
        Math.max(BACKOFF_MIN_MS, this.#settings.cooldownMs) * 2 ** (this.#failures - 1),
        Math.max(BACKOFF_MAX_MS, this.#settings.cooldownMs),
      );
      this.#retryAt = this.#now() + delay;
      emitTo(this.#onEvent, {
        type: "jwks_failed",
        uri: this.uri,
        durationMs: this.#now() - started,
        error: unavailable,
      });
      throw error;
    }
  }

  /** Whether this load reads the shared store first (a scheduled refresh: once per cooldown). */
  #readsStore(reason: LoadReason): boolean {
    if (reason === "missing-key") return false;
    if (reason === "first" || this.#storeReadAt === undefined) return true;
    return this.#now() - this.#storeReadAt >= this.#settings.cooldownMs;
  }

  /** Makes `set` the cached set; whether it differs from the previous one. */
  #apply(sequence: number, set: KeySet): boolean {
    this.#applied = sequence;
    const changed = set.text !== this.#set?.text;
    if (changed) {
      this.#version++;
      this.#resolved = new Map();
    }
    this.#set = set;
    return changed;
  }

  /**
   * Writes a fetched set to the shared store. A background refresh waits for the write (it is
   * already kept alive); a call hands it to `waitUntil`; on Workers without one the call waits for
   * it, since nothing else would keep it alive; elsewhere it runs on its own. Never rejects.
   */
  #share(set: KeySet, background: boolean, waitUntil: WaitUntil | undefined): Promise<void> | undefined {
    if (this.#shared === undefined) return undefined;
    const writing = this.#shared.write(
      "jwks",
      this.uri,
      set.text,
      set.fetchedAt,
      set.serverMaxAgeSeconds,
      this.#settings.staleMaxAgeMs,
    );
    if (background) return writing;
    if (waitUntil) waitUntil(writing);
    else if (requestScopedIo) return writing;
    return undefined;
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
      throw unavailable(describeNetworkError(error, this.uri), error);
    }
    if (!response.ok) throw unavailable(`HTTP ${response.status}`);
    let keys: JWK[];
    try {
      ({ keys } = parseKeySet(text));
    } catch (error) {
      throw unavailable((error as Error).message);
    }
    const cacheControl = response.headers.get("cache-control");
    const match = cacheControl ? /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(cacheControl) : null;
    const serverMaxAgeSeconds = match ? Number(match[1]) : undefined;
    return {
      text,
      keys,
      fetchedAt: this.#now(),
      maxAgeMs: this.#maxAge(serverMaxAgeSeconds),
      serverMaxAgeSeconds,
    };
  }

  /**
   * `cacheMaxAgeMs` as configured; a server's `Cache-Control: max-age` shortens it, but not below
   * the cooldown (a server answering `max-age=0` would otherwise be asked on every request).
   */
  #maxAge(serverMaxAgeSeconds: number | undefined): number {
    const configured = this.#settings.cacheMaxAgeMs;
    if (serverMaxAgeSeconds === undefined) return configured;
    const server = serverMaxAgeSeconds * 1000;
    return Math.min(configured, Math.max(server, Math.min(this.#settings.cooldownMs, configured)));
  }
}
