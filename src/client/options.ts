import type { JWK } from "jose";
import type { Clock } from "../lib/clock.js";
import { checkUrl, type FetchLike } from "../lib/http.js";
import { DEFAULT_RETRY, type RetryOptions, type RetryPolicy } from "../lib/retry.js";
import { transportInfo } from "../lib/transport.js";
import {
  type AssertionAudience,
  AUTH_METHODS,
  type AuthMethod,
  checkPrivateKey,
} from "../oauth/client-auth.js";
import { type AudienceParam, PROVIDER_NAMES, type ProviderName, tenantIssuers } from "../providers.js";
import { type ClientDpopOption, checkDpopOption } from "./dpop.js";
import { checkMutualTlsTransport } from "./mtls.js";
import type { TokenStore } from "./store.js";

/** Events a client reports through `onEvent`. None carries a secret, an assertion or a token. */
export type ClientEvent =
  | { type: "cache_hit"; audience: string | undefined; scope: string[]; expiresAt: number }
  /** No usable cached token: the call waits for a token request (its own or one in flight). */
  | { type: "cache_miss"; audience: string | undefined; scope: string[] }
  | {
      type: "token_fetched";
      audience: string | undefined;
      scope: string[];
      expiresAt: number;
      durationMs: number;
      attempts: number;
      background: boolean;
    }
  | {
      type: "token_failed";
      audience: string | undefined;
      scope: string[];
      durationMs: number;
      error: Error;
      background: boolean;
    }
  | { type: "refresh_started"; audience: string | undefined; scope: string[]; expiresAt: number }
  | { type: "refresh_failed"; audience: string | undefined; scope: string[]; error: Error }
  | {
      type: "retry";
      audience: string | undefined;
      scope: string[];
      attempt: number;
      delayMs: number;
      status: number | undefined;
      reason: string;
    }
  | { type: "discovery"; issuer: string; tokenEndpoint: string; durationMs: number }
  | {
      /**
       * `client.fetch` got a 401. `token_replaced`: the token was dropped and the request sent once
       * more with a new one. `returned`: the 401 went to the caller and the token was kept, because
       * a token fetched moments ago was refused (`fresh_token_refused`: the key backs off for
       * `backoffMs`), the key is backing off, `retryOnUnauthorized` rules the resend out, or the body
       * cannot be sent twice.
       */
      type: "unauthorized";
      audience: string | undefined;
      scope: string[];
      action: "token_replaced" | "returned";
      reason: "fresh_token_refused" | "backing_off" | "disabled" | "not_replayable" | undefined;
      backoffMs: number | undefined;
    }
  | {
      /** The `TokenStore` threw or rejected; the call went on without it (a miss, or no write). */
      type: "store_failed";
      operation: "get" | "set" | "delete";
      error: Error;
    }
  | {
      /**
       * A shared store's lease was held by another process: this client waited `waitedMs`. `outcome`:
       * `shared` (the holder's token arrived), `acquired` (the lease freed up and this client fetched),
       * `timeout` (`lease.waitTimeoutMs` passed, this client fetched on its own).
       */
      type: "lease_wait";
      audience: string | undefined;
      scope: string[];
      waitedMs: number;
      outcome: "shared" | "acquired" | "timeout";
    }
  | {
      /** The store's lease could not be asked (store down): this client fetched on its own. */
      type: "lease_unavailable";
      audience: string | undefined;
      scope: string[];
      reason: string;
    };

export interface ClientCredentialsClientOptions {
  /** Issuer identifier; the token endpoint is discovered from it. Either this or `tokenEndpoint`. */
  issuer?: string;
  /** Token endpoint URL; skips discovery. */
  tokenEndpoint?: string;
  /** The M2M application's client id. */
  clientId: string;
  /** The M2M application's client secret (for `client_secret_*` methods). */
  clientSecret?: string;
  /** Private key for `private_key_jwt`: private JWK, PKCS#8 PEM or `CryptoKey`. */
  privateKey?: JWK | string | CryptoKey;
  /** Signing algorithm for the assertion. Default: the JWK's `alg`, else from the key type. */
  privateKeyAlg?: string;
  /** `kid` header of the assertion. Default: the JWK's `kid`. */
  keyId?: string;
  /** Provider preset; inferred from well-known issuer hosts when omitted. */
  provider?: ProviderName;
  /** With `provider`, instead of `issuer`: the tenant (domain, subdomain or id) the issuer is built from. */
  tenant?: string;
  /**
   * Client authentication method. Default: see the README ("Client authentication");
   * `tls_client_auth` when no secret or key is given and `fetch` (from `m2m-kit/node`) presents a
   * client certificate. `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2) need such a
   * `fetch`; one that is known to present no certificate is a `TypeError`.
   */
  authMethod?: AuthMethod;
  /** `aud` of client assertions: `"tokenEndpoint"` (default), `"issuer"`, or a URL. */
  assertionAudience?: AssertionAudience;
  /**
   * How the target API is sent: `audience`, `resource` (RFC 8707) or not at all (`none`). Default: the
   * preset's translation (Entra `{audience}/.default`, Cognito `{audience}/{scope}`, Zitadel's project
   * `…:aud` scope, `audience=`, `resource=`, or nothing), else `resource`. Setting it replaces the
   * preset's translation.
   */
  audienceParam?: AudienceParam;
  /** Audience used when a call names none. */
  defaultAudience?: string;
  /** Scopes used when a call names none. */
  defaultScope?: string | string[];
  /** Extra form parameters sent with every token request. */
  extraParams?: Record<string, string>;
  /** `fetch` implementation. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Timeout of each HTTP request. Default 10 000 ms. */
  timeoutMs?: number;
  /** Retry policy for transient failures, or `false` for none. */
  retry?: RetryOptions | false;
  /** Fixed refresh window, in seconds before expiry (capped at half the token's lifetime). */
  refreshWindowSeconds?: number;
  /** Lifetime assumed for a token whose response has no `expires_in` and that is not a JWT. Default 300. */
  defaultTokenLifetimeSeconds?: number;
  /** Token store. Default: a bounded in-memory store private to this client. */
  store?: TokenStore;
  /**
   * Bound of the default in-memory store, and of the client's own per-key state (audience index,
   * back-offs, failed keys) with any store. Default 1000 entries.
   */
  cacheMaxEntries?: number;
  /** Allow `http:` URLs on hosts other than loopback. Default false. */
  allowInsecureHttp?: boolean;
  /**
   * `client.fetch` after a 401 from the API: `true` (default) drops the token, gets a new one and sends
   * the request once more, whatever the method (a 401 means the API did not act on the request);
   * `"idempotent"` does so only for GET, HEAD, OPTIONS, TRACE, PUT and DELETE; `false` returns every
   * 401 as it is and keeps the token. A token refused moments after it was fetched is never replaced
   * at once: the key backs off (30 s, doubling up to 10 min).
   */
  retryOnUnauthorized?: boolean | "idempotent";
  /** Receives events (cache hits, fetches, retries, refreshes). Errors it throws are ignored. */
  onEvent?: (event: ClientEvent) => void;
  /** Time source; tests inject one. */
  clock?: Clock;
  /**
   * DPoP (RFC 9449): sender-constrained tokens. `true` makes a non-extractable ES256 key for this
   * client; `{ privateKey, alg }` uses yours (JWK, PKCS#8 PEM or `CryptoKey`; ES256/384, Ed25519,
   * RS256, PS256, …). Token requests carry a proof, `token_type: DPoP` is expected, `client.fetch`
   * sends `Authorization: DPoP` with a proof, and the key's thumbprint is part of the cache key.
   * Default false.
   */
  dpop?: ClientDpopOption;
}

export interface NormalizedOptions {
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  clientId: string;
  provider: ProviderName | undefined;
  authMethod: AuthMethod | undefined;
  assertionAudience: AssertionAudience;
  audienceParam: AudienceParam | undefined;
  defaultAudience: string | undefined;
  defaultScope: string[];
  extraParams: Record<string, string>;
  timeoutMs: number;
  retry: RetryPolicy | false;
  refreshWindowSeconds: number | undefined;
  defaultTokenLifetimeSeconds: number;
  allowInsecureHttp: boolean;
  retryOnUnauthorized: boolean | "idempotent";
  cacheMaxEntries: number;
}

const RESERVED_PARAMS = new Set([
  "grant_type",
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
  "scope",
]);

function positive(value: unknown, option: string, { allowZero = false } = {}): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${option} must be a ${allowZero ? "non-negative" : "positive"} finite number`);
  }
  return value;
}

function nonEmptyString(value: unknown, option: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${option} must be a non-empty string`);
  return value;
}

/** Splits and validates a scope option: a space-delimited string or a list of scope tokens. */
export function normalizeScope(value: unknown, option: string): string[] {
  if (value === undefined) return [];
  const list = typeof value === "string" ? value.split(" ") : value;
  if (!Array.isArray(list)) throw new TypeError(`${option} must be a string or an array of strings`);
  const scopes: string[] = [];
  for (const scope of list) {
    if (typeof scope !== "string") throw new TypeError(`${option} must be a string or an array of strings`);
    if (scope === "") continue;
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new TypeError(`${option} has an invalid scope token (RFC 6749 §3.3)`);
    }
    scopes.push(scope);
  }
  return [...new Set(scopes)].sort();
}

/** Validates the constructor options; every problem is a `TypeError` naming the option. */
export function normalizeOptions(options: ClientCredentialsClientOptions): NormalizedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("ClientCredentialsClient options must be an object");
  }
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const clientId = nonEmptyString(options.clientId, "clientId");
  if (options.tenant !== undefined) {
    nonEmptyString(options.tenant, "tenant");
    if (options.provider === undefined) throw new TypeError("tenant needs provider");
    if (options.issuer !== undefined) throw new TypeError("set either tenant or issuer, not both");
    if (!PROVIDER_NAMES.includes(options.provider))
      throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
    options = { ...options, issuer: tenantIssuers(options.provider, options.tenant)[0] };
  }
  if (options.issuer === undefined && options.tokenEndpoint === undefined) {
    throw new TypeError("issuer or tokenEndpoint is required");
  }
  const issuer =
    options.issuer === undefined
      ? undefined
      : checkUrl(options.issuer, "issuer", allowInsecureHttp) && options.issuer;
  const tokenEndpoint =
    options.tokenEndpoint === undefined
      ? undefined
      : checkUrl(options.tokenEndpoint, "tokenEndpoint", allowInsecureHttp).href;

  if (options.provider !== undefined && !PROVIDER_NAMES.includes(options.provider)) {
    throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  if (options.authMethod !== undefined && !AUTH_METHODS.includes(options.authMethod)) {
    throw new TypeError(`authMethod must be one of ${AUTH_METHODS.join(", ")}`);
  }
  if (
    options.audienceParam !== undefined &&
    !["audience", "resource", "none"].includes(options.audienceParam)
  ) {
    throw new TypeError('audienceParam must be "audience", "resource" or "none"');
  }

  if (options.clientSecret !== undefined) nonEmptyString(options.clientSecret, "clientSecret");
  if (options.privateKey !== undefined) checkPrivateKey(options.privateKey);
  if (options.privateKeyAlg !== undefined) nonEmptyString(options.privateKeyAlg, "privateKeyAlg");
  if (options.keyId !== undefined) nonEmptyString(options.keyId, "keyId");
  const noCredentials = options.clientSecret === undefined && options.privateKey === undefined;
  // A transport that presents a client certificate and no other credential: RFC 8705 §2.
  const method =
    options.authMethod ??
    (noCredentials && transportInfo(options.fetch)?.presentsClientCertificate
      ? "tls_client_auth"
      : undefined);
  if (method === undefined && noCredentials) {
    throw new TypeError(
      "clientSecret or privateKey is required (or authMethod tls_client_auth with a fetch that presents a client certificate)",
    );
  }
  checkMutualTlsTransport(method, options.fetch);
  if (method?.startsWith("client_secret_") && options.clientSecret === undefined) {
    throw new TypeError(`clientSecret is required for authMethod ${method}`);
  }
  if (method === "private_key_jwt" && options.privateKey === undefined) {
    throw new TypeError("privateKey is required for authMethod private_key_jwt");
  }

  const assertionAudience = options.assertionAudience ?? "tokenEndpoint";
  if (assertionAudience !== "tokenEndpoint" && assertionAudience !== "issuer") {
    checkUrl(assertionAudience, "assertionAudience", true);
  }
  if (assertionAudience === "issuer" && issuer === undefined) {
    throw new TypeError('assertionAudience "issuer" needs the issuer option');
  }

  if (options.defaultAudience !== undefined) nonEmptyString(options.defaultAudience, "defaultAudience");
  const defaultScope = normalizeScope(options.defaultScope, "defaultScope");

  const extraParams: Record<string, string> = {};
  if (options.extraParams !== undefined) {
    if (typeof options.extraParams !== "object" || options.extraParams === null) {
      throw new TypeError("extraParams must be an object of strings");
    }
    for (const [name, value] of Object.entries(options.extraParams)) {
      if (typeof value !== "string") throw new TypeError(`extraParams.${name} must be a string`);
      if (RESERVED_PARAMS.has(name)) {
        throw new TypeError(`extraParams.${name} is set by the client and cannot be overridden`);
      }
      extraParams[name] = value;
    }
  }

  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError("fetch must be a function");
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== "function") {
    throw new TypeError("onEvent must be a function");
  }
  if (
    options.store !== undefined &&
    (typeof options.store !== "object" ||
      options.store === null ||
      typeof options.store.get !== "function" ||
      typeof options.store.set !== "function" ||
      typeof options.store.delete !== "function")
  ) {
    throw new TypeError("store must implement get, set and delete");
  }
  if (options.cacheMaxEntries !== undefined) {
    positive(options.cacheMaxEntries, "cacheMaxEntries");
    if (!Number.isInteger(options.cacheMaxEntries)) throw new TypeError("cacheMaxEntries must be an integer");
  }
  const retryOnUnauthorized = options.retryOnUnauthorized ?? true;
  if (typeof retryOnUnauthorized !== "boolean" && retryOnUnauthorized !== "idempotent") {
    throw new TypeError('retryOnUnauthorized must be true, false or "idempotent"');
  }
  checkDpopOption(options.dpop);

  let retry: RetryPolicy | false;
  if (options.retry === false) {
    retry = false;
  } else if (options.retry === undefined) {
    retry = DEFAULT_RETRY;
  } else if (typeof options.retry !== "object" || options.retry === null) {
    throw new TypeError("retry must be an object or false");
  } else {
    retry = { ...DEFAULT_RETRY };
    for (const field of ["retries", "minDelayMs", "maxDelayMs", "maxElapsedMs"] as const) {
      const value = options.retry[field];
      if (value !== undefined) retry[field] = positive(value, `retry.${field}`, { allowZero: true });
    }
  }

  return {
    issuer,
    tokenEndpoint,
    clientId,
    provider: options.provider,
    authMethod: method,
    assertionAudience,
    audienceParam: options.audienceParam,
    defaultAudience: options.defaultAudience,
    defaultScope,
    extraParams,
    timeoutMs: options.timeoutMs === undefined ? 10_000 : positive(options.timeoutMs, "timeoutMs"),
    retry,
    refreshWindowSeconds:
      options.refreshWindowSeconds === undefined
        ? undefined
        : positive(options.refreshWindowSeconds, "refreshWindowSeconds", { allowZero: true }),
    defaultTokenLifetimeSeconds:
      options.defaultTokenLifetimeSeconds === undefined
        ? 300
        : positive(options.defaultTokenLifetimeSeconds, "defaultTokenLifetimeSeconds"),
    allowInsecureHttp,
    retryOnUnauthorized,
    cacheMaxEntries: options.cacheMaxEntries ?? 1000,
  };
}

/**
 * DESIGN.md: 10% of the lifetime, at least 60 s, at most half the lifetime; or the fixed
 * `refreshWindowSeconds`, still capped at half. Up to 10% jitter shortens it, so a fleet that got its
 * tokens together does not refresh together.
 */
export function refreshAt(
  sentAt: number,
  expiresAt: number,
  fixedWindowSeconds: number | undefined,
  random: () => number = Math.random,
): number {
  const lifetime = Math.max(0, expiresAt - sentAt);
  const wanted =
    fixedWindowSeconds !== undefined ? fixedWindowSeconds * 1000 : Math.max(60_000, lifetime * 0.1);
  const window = Math.min(wanted, lifetime / 2) * (1 - 0.1 * random());
  return expiresAt - window;
}
