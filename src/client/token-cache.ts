import type { TokenStore } from "./store.js";
import type { StoredToken } from "./token.js";

/**
 * Every access of the client to its `TokenStore`, plus the index of keys written per audience that
 * `invalidate({ audience })` needs.
 */
export class TokenCache {
  /** Keys written per audience, so `invalidate({ audience })` finds every scope set. */
  readonly #keysByAudience = new Map<string | undefined, Set<string>>();

  constructor(private readonly store: TokenStore) {}

  /** The stored token; synchronous when the store is (a cache hit then costs no microtask). */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    return this.store.get(key);
  }

  async set(key: string, audience: string | undefined, token: StoredToken): Promise<void> {
    await this.store.set(key, token);
    const keys = this.#keysByAudience.get(audience) ?? new Set<string>();
    keys.add(key);
    this.#keysByAudience.set(audience, keys);
  }

  /** Drops the entry only if it still holds this token: a concurrent caller may have a newer one. */
  async deleteIfHolds(key: string, accessToken: string): Promise<void> {
    const found = await this.get(key);
    if (found && found.accessToken === accessToken) await this.store.delete(key);
  }

  /** Drops every scope set of the listed audience, or everything when `all`. */
  async invalidate(options: { audience?: string | undefined }): Promise<void> {
    const audiences = "audience" in options ? [options.audience] : [...this.#keysByAudience.keys()];
    for (const audience of audiences) {
      for (const key of this.#keysByAudience.get(audience) ?? []) await this.store.delete(key);
      this.#keysByAudience.delete(audience);
    }
  }
}
