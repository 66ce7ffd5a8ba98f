/**
 * Events a client reports through `onEvent` (and `m2m-kit/otel`, `logEvents`), one object per event,
 * told apart by `type`. None carries a secret, an assertion or a token. Times are milliseconds since
 * the epoch; durations are milliseconds.
 */
export type ClientEvent =
  | {
      /** A valid cached token was returned (outside its refresh window, or with a refresh under way). */
      type: "cache_hit";
      /** The audience of the call (after `defaultAudience`); `undefined` when the call names none. */
      audience: string | undefined;
      /** The scope set of the call, sorted and without duplicates. */
      scope: string[];
      /** When the returned token expires, ms since the epoch. */
      expiresAt: number;
    }
  | {
      /** No usable cached token: the call waits for a token request (its own or one in flight). */
      type: "cache_miss";
      /** The audience of the call; `undefined` when the call names none. */
      audience: string | undefined;
      /** The scope set of the call, sorted. */
      scope: string[];
    }
  | {
      /** A token request succeeded and the token was stored. */
      type: "token_fetched";
      /** The audience the token was requested for; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set requested, sorted (the granted set is on the token). */
      scope: string[];
      /** When the new token expires, ms since the epoch. */
      expiresAt: number;
      /** From the first attempt to the answer, retries and their delays included, in ms. */
      durationMs: number;
      /** HTTP attempts made, 1 when the first one succeeded. */
      attempts: number;
      /** `true` for a refresh inside the refresh window that no caller waited for. */
      background: boolean;
    }
  | {
      /** A token request failed after its retries; the callers waiting for it got `error`. */
      type: "token_failed";
      /** The audience requested; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set requested, sorted. */
      scope: string[];
      /** From the first attempt to the failure, in ms. */
      durationMs: number;
      /** The error the callers got: `OAuthError`, `TokenRequestError`, `DiscoveryError`, …. */
      error: Error;
      /** `true` for a background refresh (the cached token is still served until it expires). */
      background: boolean;
    }
  | {
      /** A cached token entered its refresh window: one background request starts. */
      type: "refresh_started";
      /** The audience of the cached token; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set of the cached token, sorted. */
      scope: string[];
      /** When the token still being served expires, ms since the epoch. */
      expiresAt: number;
    }
  | {
      /** A background refresh failed; the cached token is served until it expires, then a call fetches. */
      type: "refresh_failed";
      /** The audience of the refresh; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set of the refresh, sorted. */
      scope: string[];
      /** Why the refresh failed. */
      error: Error;
    }
  | {
      /** A token request attempt failed with a transient error and will be sent again after `delayMs`. */
      type: "retry";
      /** The audience requested; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set requested, sorted. */
      scope: string[];
      /** The number of the attempt that failed, from 1. */
      attempt: number;
      /** Wait before the next attempt, in ms (full jitter, or the server's `Retry-After`). */
      delayMs: number;
      /** HTTP status of the failed attempt; `undefined` for a network error or a timeout. */
      status: number | undefined;
      /** The failed attempt's error message (a `TokenRequestError` or `OAuthError` message: no secret). */
      reason: string;
    }
  | {
      /** The token endpoint was discovered from the issuer's metadata. */
      type: "discovery";
      /** The configured issuer. */
      issuer: string;
      /** The token endpoint found (the mTLS alias when the client authenticates with a certificate). */
      tokenEndpoint: string;
      /** Time the discovery took, in ms. */
      durationMs: number;
    }
  | {
      /**
       * `client.fetch` got a 401. `token_replaced`: the token was dropped and the request is sent once
       * more with its replacement (a newer token from a shared store, else a new one). `returned`: the
       * 401 went to the caller and the token was kept, because the replacement was refused too
       * (`fresh_token_refused`: the key backs off for `backoffMs`), the key is backing off,
       * `retryOnUnauthorized` rules the resend out, or the body cannot be sent twice.
       */
      type: "unauthorized";
      /** The audience of the call; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set of the call, sorted. */
      scope: string[];
      /** What the client did: sent the request again with a new token, or returned the 401. */
      action: "token_replaced" | "returned";
      /** Why the 401 was returned; `undefined` when the token was replaced. */
      reason: "fresh_token_refused" | "backing_off" | "disabled" | "not_replayable" | undefined;
      /** The back-off this key starts (30 s, doubling up to 10 min), in ms; `undefined` without one. */
      backoffMs: number | undefined;
    }
  | {
      /**
       * The `TokenStore` handed back an entry that is not a usable token for this client (token
       * syntax, type, DPoP binding, a lifetime over one year, obtained in the future, another key's
       * audience): it counted as a miss, and the next token written replaces it.
       */
      type: "stored_token_refused";
      /** Which check failed (never the token or a value from it). */
      reason: string;
    }
  | {
      /** The `TokenStore` threw or rejected; the call went on without it (a miss, or no write). */
      type: "store_failed";
      /** The store method that failed. */
      operation: "get" | "set" | "delete";
      /** What the store threw. */
      error: Error;
    }
  | {
      /**
       * A shared store's lease was held by another process: this client waited `waitedMs`. `outcome`:
       * `shared` (the holder's token arrived), `acquired` (the lease freed up and this client fetched),
       * `timeout` (`lease.waitTimeoutMs` passed, this client fetched on its own).
       */
      type: "lease_wait";
      /** The audience of the call; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set of the call, sorted. */
      scope: string[];
      /** Time spent waiting for the lease holder, in ms. */
      waitedMs: number;
      /** How the wait ended (see `type`). */
      outcome: "shared" | "acquired" | "timeout";
    }
  | {
      /** The store's lease could not be asked (store down): this client fetched on its own. */
      type: "lease_unavailable";
      /** The audience of the call; `undefined` when none was named. */
      audience: string | undefined;
      /** The scope set of the call, sorted. */
      scope: string[];
      /** Why the lease could not be asked (the store's error message, never a value it holds). */
      reason: string;
    };
