import type { Clock } from "../lib/clock.js";
import type { TokenLease, TokenStore } from "./store.js";
import type { StoredToken } from "./token.js";

/** How a lease-coordinated fetch ended for this process. */
export type LeaseOutcome =
  | { kind: "shared"; token: StoredToken; waitedMs: number }
  | { kind: "fetched"; token: StoredToken; waitedMs: number; waited: "none" | "acquired" | "timeout" }
  | { kind: "unavailable"; token: StoredToken; reason: string };

/** First poll of the store while another process holds the lease, then ×1.5 up to the cap, in ms. */
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 250;

/**
 * Every access of the client to its `TokenStore`, plus the index of keys written per audience that
 * `invalidate({ audience })` needs, and the lease protocol of shared stores.
 */
export class TokenCache {
  /** Keys written per audience, so `invalidate({ audience })` finds every scope set. */
  readonly #keysByAudience = new Map<string | undefined, Set<string>>();

  constructor(
    private readonly store: TokenStore,
    private readonly clientId: string,
  ) {}

  /** The store's lease, when it is shared by several processes. */
  get lease(): TokenLease | undefined {
    return this.store.lease;
  }

  /** The stored token; synchronous when the store is (a cache hit then costs no microtask). */
  get(key: string): StoredToken | undefined | Promise<StoredToken | undefined> {
    return this.store.get(key);
  }

  async set(key: string, audience: string | undefined, token: StoredToken): Promise<void> {
    await this.store.set(key, token, { groups: groupsOf(key) });
    const keys = this.#keysByAudience.get(audience) ?? new Set<string>();
    keys.add(key);
    this.#keysByAudience.set(audience, keys);
  }

  /** Drops the entry only if it still holds this token: a concurrent caller may have a newer one. */
  async deleteIfHolds(key: string, accessToken: string): Promise<void> {
    const found = await this.get(key);
    if (found && found.accessToken === accessToken) await this.store.delete(key, { accessToken });
  }

  /**
   * Drops every scope set of the listed audience, or everything. A shared store drops them for every
   * process (its group index); the keys this process wrote are dropped here too.
   */
  async invalidate(
    options: { audience?: string | undefined },
    endpointUrl: string | undefined,
  ): Promise<void> {
    const all = !("audience" in options);
    if (this.store.deleteGroup && endpointUrl !== undefined) {
      const group = all
        ? JSON.stringify([endpointUrl, this.clientId])
        : JSON.stringify([endpointUrl, this.clientId, options.audience ?? null]);
      await this.store.deleteGroup(group);
    }
    const audiences = all ? [...this.#keysByAudience.keys()] : [options.audience];
    for (const audience of audiences) {
      for (const key of this.#keysByAudience.get(audience) ?? []) await this.store.delete(key);
      this.#keysByAudience.delete(audience);
    }
  }

  /**
   * Gets a token through the store's lease: the holder runs `fetch` (which writes the store) and
   * releases; while another process holds it, this one polls the store with back-off until a token
   * newer than `previousExpiresAt` appears, the lease frees up (then it fetches), or
   * `lease.waitTimeoutMs` passes (then it fetches on its own). A store that cannot answer never fails
   * the call: this process fetches on its own.
   */
  async leased(
    lease: TokenLease,
    key: string,
    options: {
      previousExpiresAt: number | undefined;
      clock: Clock;
      signal: AbortSignal;
      fetch: () => Promise<StoredToken>;
    },
  ): Promise<LeaseOutcome> {
    const { clock, fetch, previousExpiresAt } = options;
    const started = clock.now();
    const deadline = started + lease.waitTimeoutMs;
    const usable = (token: StoredToken | undefined): token is StoredToken =>
      token !== undefined &&
      clock.now() < token.expiresAt &&
      (previousExpiresAt === undefined || token.expiresAt > previousExpiresAt);
    let delay = POLL_FIRST_MS;
    let waited = false;
    for (;;) {
      let release: (() => unknown) | undefined;
      try {
        release = await lease.acquire(key, lease.ttlMs);
      } catch (error) {
        return { kind: "unavailable", token: await fetch(), reason: (error as Error)?.message ?? "" };
      }
      if (release) {
        try {
          // A holder may have written and released between our last read and this acquire.
          const found = await this.#read(key);
          if (usable(found)) return { kind: "shared", token: found, waitedMs: clock.now() - started };
          const token = await fetch();
          return {
            kind: "fetched",
            token,
            waitedMs: clock.now() - started,
            waited: waited ? "acquired" : "none",
          };
        } finally {
          try {
            await release();
          } catch {
            // The lease expires on its own.
          }
        }
      }
      waited = true;
      const now = clock.now();
      if (now >= deadline) {
        return { kind: "fetched", token: await fetch(), waitedMs: now - started, waited: "timeout" };
      }
      await clock.sleep(Math.min(delay, deadline - now), options.signal);
      delay = Math.min(delay * 1.5, POLL_MAX_MS);
      const found = await this.#read(key);
      if (usable(found)) return { kind: "shared", token: found, waitedMs: clock.now() - started };
    }
  }

  async #read(key: string): Promise<StoredToken | undefined> {
    try {
      return await this.store.get(key);
    } catch {
      return undefined;
    }
  }
}

/** The groups of a cache key `[endpoint, clientId, audience, scope]`: per client and per audience. */
function groupsOf(key: string): string[] {
  const [endpoint, clientId, audience] = JSON.parse(key) as [string, string, string | null];
  return [JSON.stringify([endpoint, clientId]), JSON.stringify([endpoint, clientId, audience])];
}
