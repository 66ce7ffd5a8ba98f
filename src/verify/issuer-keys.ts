import { LRUCache } from "lru-cache";
import { DiscoveryError, VerifierUnavailableError } from "../errors.js";
import { discover } from "../lib/discovery.js";
import { checkUrl, type FetchLike } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import { requestScopedIo } from "../lib/runtime.js";
import type { Platform } from "../platform/types.js";
import { emitTo, type VerifierEventListener } from "./events.js";
import type { IssuerRule, KeyCache } from "./issuers.js";
import { type JwksSettings, RemoteJwks } from "./jwks.js";

/** Key sets kept for issuers a resolver answered (least recently used dropped first). */
const RESOLVED_KEY_SETS = 1_000;
/** Key sets kept for tenants under `tenants: "any"` whose keys have verified a token. */
const OPEN_KEY_SETS = 1_000;
/** Key sets kept for tenants under `tenants: "any"` that have not verified a token yet. */
const NEW_TENANT_KEY_SETS = 16;
/** Issuers whose discovery failed, remembered for the cooldown. */
const FAILED_ISSUERS = 1_000;

export interface IssuerKeysOptions<Key> {
  /** The configured issuers (their key sets are never dropped). */
  rules: Iterable<IssuerRule>;
  settings: JwksSettings;
  fetch: FetchLike;
  now: () => number;
  platform: Platform<Key>;
  allowInsecureHttp: boolean;
  onEvent: VerifierEventListener | undefined;
  /** Runs discoveries and JWKS fetches as operations (instrumentation). */
  run?: RunOperation;
}

interface KeySets<Key> {
  get(issuer: string): RemoteJwks<Key> | undefined;
  set(issuer: string, jwks: RemoteJwks<Key>): unknown;
}

/**
 * Routes an issuer to its key set: the issuer's `jwksUri` (one `RemoteJwks` per URL, shared by the
 * issuers that name it) or the one its discovery document names, found lazily on the issuer's first
 * token. A failed discovery is remembered for the cooldown.
 *
 * The key sets of configured issuers are kept for good; those of issuers a resolver answered, and of
 * tenants under `tenants: "any"`, in bounded caches. A tenant under `"any"` whose keys are not known
 * yet is a new tenant: new tenants share one fetch per cooldown, whatever their number, and wait in
 * a small cache of their own until their keys verify a token, so a flood of made-up tenants neither
 * causes requests beyond that nor pushes a known tenant's keys out.
 */
export class IssuerKeys<Key> {
  readonly #options: IssuerKeysOptions<Key>;
  readonly #byUri = new Map<string, RemoteJwks<Key>>();
  readonly #pinned = new Map<string, RemoteJwks<Key>>();
  readonly #resolved = new LRUCache<string, RemoteJwks<Key>>({ max: RESOLVED_KEY_SETS });
  readonly #open = new LRUCache<string, RemoteJwks<Key>>({ max: OPEN_KEY_SETS });
  readonly #newTenants = new LRUCache<string, RemoteJwks<Key>>({ max: NEW_TENANT_KEY_SETS });
  readonly #discovering = new Map<string, Promise<RemoteJwks<Key>>>();
  readonly #failedAt = new LRUCache<string, { at: number; error: VerifierUnavailableError }>({
    max: FAILED_ISSUERS,
  });
  /** When a new tenant under `"any"` last had its keys fetched (the budget they share). */
  #newTenantAt: number | undefined;
  readonly #rules: readonly IssuerRule[];

  constructor(options: IssuerKeysOptions<Key>) {
    this.#options = options;
    this.#rules = [...options.rules];
    for (const rule of this.#rules) {
      if (rule.jwksUri !== undefined) this.#pinned.set(rule.issuer, this.#jwksAt(rule.jwksUri));
    }
  }

  /** Every key set known so far. */
  get all(): ReadonlyArray<RemoteJwks<Key>> {
    const sets = new Set(this.#byUri.values());
    for (const cache of [this.#resolved, this.#open, this.#newTenants]) {
      for (const jwks of cache.values()) sets.add(jwks);
    }
    return [...sets];
  }

  /** The key set of an issuer when it is already known (no I/O). */
  known(rule: IssuerRule): RemoteJwks<Key> | undefined {
    if (rule.keyCache === "pinned") return this.#pinned.get(rule.issuer);
    const found =
      rule.keyCache === "resolved"
        ? this.#resolved.get(rule.issuer)
        : (this.#open.get(rule.issuer) ?? this.#newTenants.get(rule.issuer));
    // A JWKS URL shared with a configured issuer (one key set for every tenant) is no new key set.
    return found ?? (rule.jwksUri === undefined ? undefined : this.#byUri.get(rule.jwksUri));
  }

  /**
   * The key set of an issuer, discovering it first when needed. A new tenant under `"any"` spends
   * the budget new tenants share, or is refused with `VerifierUnavailableError` while it is spent.
   */
  async forRule(rule: IssuerRule): Promise<RemoteJwks<Key>> {
    const known = this.known(rule);
    if (known) return known;
    const { issuer } = rule;
    const failed = this.#failedAt.get(issuer);
    if (failed && this.#options.now() - failed.at < this.#options.settings.cooldownMs) throw failed.error;
    const pending = this.#discovering.get(issuer);
    if (pending) return pending;
    if (rule.keyCache === "open") this.#spendNewTenantBudget();
    // On Workers each request discovers on its own until one has succeeded (lib/runtime.ts).
    if (requestScopedIo) return this.#load(rule);
    const loading = this.#load(rule).finally(() => this.#discovering.delete(issuer));
    this.#discovering.set(issuer, loading);
    return loading;
  }

  /** A token verified with this key set: a new tenant's keys join the known tenants'. */
  verified(rule: IssuerRule, jwks: RemoteJwks<Key>): void {
    if (rule.keyCache !== "open" || this.#newTenants.get(rule.issuer) !== jwks) return;
    this.#newTenants.delete(rule.issuer);
    this.#open.set(rule.issuer, jwks);
  }

  /** Discovers and fetches the keys of every configured issuer now. */
  async warmUp(): Promise<void> {
    const sets = await Promise.all(this.#rules.map((rule) => this.forRule(rule)));
    await Promise.all([...new Set(sets)].map((jwks) => jwks.warmUp()));
  }

  #spendNewTenantBudget(): void {
    const { now, settings } = this.#options;
    if (this.#newTenantAt !== undefined && now() - this.#newTenantAt < settings.cooldownMs) {
      throw new VerifierUnavailableError(
        `the keys of a new tenant are fetched at most once per jwks.cooldownMs (${settings.cooldownMs} ms), for all new tenants together`,
      );
    }
    this.#newTenantAt = now();
  }

  #cacheOf(keyCache: KeyCache): KeySets<Key> {
    return keyCache === "pinned" ? this.#pinned : keyCache === "resolved" ? this.#resolved : this.#newTenants;
  }

  /**
   * The key set of a configured JWKS URL: one per URL, kept for good. Others (a template filled
   * with a tenant, a discovered one for a tenant) belong to their issuer's bounded cache.
   */
  #jwksAt(uri: string, keep = true): RemoteJwks<Key> {
    let jwks = this.#byUri.get(uri);
    if (!jwks) {
      const { settings, fetch, now, platform, onEvent, run } = this.#options;
      jwks = new RemoteJwks(uri, settings, fetch, now, platform, onEvent, run);
      if (keep) this.#byUri.set(uri, jwks);
    }
    return jwks;
  }

  /**
   * Finds the key set of an issuer (its `jwksUri`, else discovery) and keeps it in the issuer's
   * cache. A new tenant's keys are fetched here, so that a tenant whose keys cannot be had takes no
   * place in the cache and tries again only with the shared budget.
   */
  async #load(rule: IssuerRule): Promise<RemoteJwks<Key>> {
    const { issuer, keyCache } = rule;
    const pinned = keyCache === "pinned";
    const jwks =
      rule.jwksUri !== undefined ? this.#jwksAt(rule.jwksUri, pinned) : await this.#discover(issuer, pinned);
    if (keyCache === "open") await jwks.warmUp();
    this.#cacheOf(keyCache).set(issuer, jwks);
    this.#failedAt.delete(issuer);
    return jwks;
  }

  async #discover(issuer: string, pinned: boolean): Promise<RemoteJwks<Key>> {
    const started = this.#options.now();
    try {
      const request = () =>
        discover(issuer, {
          fetch: this.#options.fetch,
          timeoutMs: this.#options.settings.timeoutMs,
          allowInsecureHttp: this.#options.allowInsecureHttp,
        });
      const run = this.#options.run;
      const metadata = await (run ? run({ kind: "discovery", issuer }, request) : request());
      if (typeof metadata.jwks_uri !== "string")
        throw new DiscoveryError(`discovery of ${issuer}: no jwks_uri`);
      const uri = checkUrl(metadata.jwks_uri, "jwks_uri", this.#options.allowInsecureHttp).href;
      return this.#jwksAt(uri, pinned);
    } catch (cause) {
      const error = new VerifierUnavailableError(
        `keys of ${issuer} unavailable: ${(cause as Error).message}`,
        {
          cause,
        },
      );
      this.#failedAt.set(issuer, { at: this.#options.now(), error });
      emitTo(this.#options.onEvent, {
        type: "jwks_failed",
        uri: `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
        issuer,
        durationMs: this.#options.now() - started,
        error,
      });
      throw error;
    }
  }
}

/** RFC 8414 `introspection_endpoint` of an issuer, as a `VerifierUnavailableError` when missing. */
export function discoverIntrospectionEndpoint(
  issuer: string,
  options: { fetch: FetchLike; timeoutMs: number; allowInsecureHttp: boolean },
): Promise<string> {
  return discover(issuer, options).then(
    (metadata) => {
      if (typeof metadata.introspection_endpoint !== "string") {
        throw new VerifierUnavailableError(`${issuer} publishes no introspection_endpoint`);
      }
      return metadata.introspection_endpoint;
    },
    (cause: Error) => {
      throw new VerifierUnavailableError(
        `introspection endpoint of ${issuer} unavailable: ${cause.message}`,
        {
          cause,
        },
      );
    },
  );
}
