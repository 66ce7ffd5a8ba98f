import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import type { TokenExchangeTokens } from "./grants/token-exchange.js";

/** Per-call options of {@link ClientCredentialsClient.getToken}. */
export interface GetTokenOptions {
  /**
   * Target API identifier (Auth0 API identifier, Entra Application ID URI, Cognito resource server,
   * Zitadel project id, …); the provider preset puts it where that provider reads it. Default:
   * `defaultAudience`.
   */
  audience?: string;
  /** Scopes, as a list or a space-delimited string. Default: `defaultScope`. */
  scope?: string | string[];
  /** Ignore a cached token and fetch a new one (joins a request already in flight). */
  forceRefresh?: boolean;
  /** Abandons this caller's wait; a request shared with other callers goes on. */
  signal?: AbortSignal;
  /**
   * Receives the background refresh started inside the refresh window, so that the runtime keeps
   * it alive after the response: a Worker's `ctx.waitUntil`, Next.js's `after`. On Cloudflare
   * Workers, without it the refresh runs in this call (the still-valid token is returned if it fails).
   */
  waitUntil?: WaitUntil;
}

/** The names of {@link GetTokenOptions}. */
export const GET_TOKEN_OPTION_NAMES: OptionNames<GetTokenOptions> = {
  audience: true,
  scope: true,
  forceRefresh: true,
  signal: true,
  waitUntil: true,
};

/** `fetch` init plus the token to attach. */
export type ClientFetchInit = RequestInit & Pick<GetTokenOptions, "audience" | "scope" | "waitUntil">;

/**
 * The names `client.fetch` reads from its init besides `RequestInit`'s. The rest goes to `fetch`,
 * whose init differs per runtime (`dispatcher`, `cf`, `next`): only near-misses of these are refused.
 */
export const FETCH_INIT_NAMES: OptionNames<ClientFetchInit, RequestInit> = {
  audience: true,
  scope: true,
  waitUntil: true,
};

/**
 * Options of {@link ClientCredentialsClient.exchangeToken}: the tokens of the exchange (RFC 8693
 * §2.1) and, as for `getToken`, the target (`audience` is sent as RFC 8693's `audience`; `scope`)
 * and the call's `forceRefresh`, `signal` and `waitUntil`.
 */
export interface ExchangeTokenOptions extends GetTokenOptions, TokenExchangeTokens {}

/** Options of {@link ClientCredentialsClient.invalidate}. */
export interface InvalidateOptions {
  /** Drop the tokens of this audience only (every scope set). Default: every token. */
  audience?: string;
}

export const INVALIDATE_OPTION_NAMES: OptionNames<InvalidateOptions> = { audience: true };

/** Options of {@link ClientCredentialsClient.dpopProof}. */
export interface DpopProofOptions {
  /** The nonce to put in the proof (RFC 9449 §8, §9). Default: the origin's last `DPoP-Nonce`. */
  nonce?: string;
}

export const DPOP_PROOF_OPTION_NAMES: OptionNames<DpopProofOptions> = { nonce: true };

/** Per-call options: a wrong type is a `TypeError` naming it, before any work starts. */
export function checkCallOptions(options: GetTokenOptions): void {
  if (typeof options !== "object" || options === null)
    throw new TypeError("getToken options must be an object");
  checkOptionNames(options, [GET_TOKEN_OPTION_NAMES], "getToken()");
  const { signal, waitUntil, forceRefresh } = options;
  if (
    signal !== undefined &&
    (typeof signal !== "object" ||
      signal === null ||
      typeof signal.addEventListener !== "function" ||
      typeof signal.aborted !== "boolean")
  ) {
    throw new TypeError("signal must be an AbortSignal");
  }
  if (waitUntil !== undefined && typeof waitUntil !== "function") {
    throw new TypeError("waitUntil must be a function");
  }
  if (forceRefresh !== undefined && typeof forceRefresh !== "boolean") {
    throw new TypeError("forceRefresh must be a boolean");
  }
}
