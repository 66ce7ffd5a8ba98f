import { MAX_RESPONSE_BYTES, readBounded } from "../lib/http.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { KeyValueStore } from "../verify/key-value-store.js";

/** Options of {@link cacheApiStore}. */
export interface CacheApiStoreOptions {
  /**
   * Names this use of the cache (1 to 64 letters, digits, `.`, `_` or `-`): a path segment of the
   * entries' URLs, so that several APIs in one zone keep apart. Required.
   */
  namespace: string;
  /** The cache. Default: `caches.default` (Cloudflare Workers); elsewhere pass one (`await caches.open(…)`). */
  cache?: Cache;
  /**
   * Origin of the entries' URLs (`<origin>/__m2m-kit/<namespace>/<key>`). Cloudflare recommends the
   * hostname of the Worker's own zone for Cache API keys. Default `"https://m2m-kit.invalid"`.
   */
  origin?: string;
}

/** The names of {@link CacheApiStoreOptions}. */
export const CACHE_API_STORE_OPTION_NAMES: OptionNames<CacheApiStoreOptions> = {
  namespace: true,
  cache: true,
  origin: true,
};

/**
 * A {@link KeyValueStore} on the Cache API (`caches.default` on Cloudflare Workers), for the
 * verifier's `jwks.store`: every isolate of a data center reads the key sets and discovery documents
 * one of them fetched. `get` is `cache.match` of a URL made from the key, `set` is `cache.put` of a
 * response with `Cache-Control: max-age=<ttlSeconds>`. The cache is per data center (not replicated)
 * and, on Cloudflare, works on custom domains only: on `*.workers.dev` every `get` misses and the
 * verifier fetches as without a store. For one store across data centers use Workers KV (see
 * {@link KeyValueStore}).
 *
 * @throws TypeError for a bad option, or without `cache` where there is no `caches.default`.
 * @example
 * ```ts
 * import { createVerifier } from "m2m-kit";
 * import { cacheApiStore, withAuth } from "m2m-kit/web";
 * import { env } from "cloudflare:workers";
 *
 * const verifier = createVerifier({
 *   issuer: "https://tenant.example.com/",
 *   audience: "https://api.example.com",
 *   jwks: { store: cacheApiStore({ namespace: "api-keys" }), integrityKey: env.JWKS_INTEGRITY_KEY },
 * });
 * export default { fetch: withAuth((request, auth) => Response.json({ client: auth.clientId }), verifier) };
 * ```
 */
export function cacheApiStore(options: CacheApiStoreOptions): KeyValueStore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("cacheApiStore options must be an object ({ namespace, cache?, origin? })");
  }
  checkOptionNames(options, [CACHE_API_STORE_OPTION_NAMES], "cacheApiStore()");
  const { namespace } = options;
  if (typeof namespace !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(namespace)) {
    throw new TypeError("namespace must be 1 to 64 letters, digits, '.', '_' or '-'");
  }
  const cache =
    options.cache ?? (globalThis as { caches?: { default?: Cache } }).caches?.default ?? undefined;
  if (
    cache === undefined ||
    cache === null ||
    typeof cache.match !== "function" ||
    typeof cache.put !== "function"
  ) {
    throw new TypeError(
      options.cache === undefined
        ? "cache is required where there is no caches.default (Cloudflare Workers): pass await caches.open(name)"
        : "cache must be a Cache (match and put)",
    );
  }
  let origin = "https://m2m-kit.invalid";
  if (options.origin !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.origin);
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      (url.protocol !== "https:" && url.protocol !== "http:") ||
      url.origin === "null"
    ) {
      throw new TypeError("origin must be an http(s) origin, e.g. https://api.example.com");
    }
    origin = url.origin;
  }
  const urlOf = (key: string) => `${origin}/__m2m-kit/${namespace}/${encodeURIComponent(key)}`;
  return {
    async get(key) {
      const response = await cache.match(urlOf(key));
      return response === undefined ? undefined : readBounded(response, MAX_RESPONSE_BYTES + 4_096);
    },
    async set(key, value, { ttlSeconds }) {
      await cache.put(
        urlOf(key),
        new Response(value, {
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "cache-control": `max-age=${Math.max(0, Math.floor(ttlSeconds))}`,
          },
        }),
      );
    },
  };
}
