import type { JWK } from "jose";
import type { Clock } from "../lib/clock.js";
import { checkUrl, type FetchLike, withoutCredentials as refuseCredentials } from "../lib/http.js";
import { checkOptionNames, isFreeFormMap, knownOptions, type OptionNames } from "../lib/option-names.js";
import { DEFAULT_RETRY, RETRY_OPTION_NAMES, type RetryOptions, type RetryPolicy } from "../lib/retry.js";
import { transportInfo } from "../lib/transport.js";
import {
  type AssertionAudience,
  AUTH_METHODS,
  type AuthMethod,
  checkPrivateKey,
} from "../oauth/client-auth.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { type AudienceParam, PROVIDER_NAMES, type ProviderName, tenantIssuers } from "../providers.js";
import type { AssertionSource } from "../workload/source.js";
import { type AssertionInput, type ResolvedSource, resolveAssertionInput } from "../workload/source.js";
import { type ClientDpopOption, checkDpopOption } from "./dpop.js";
import { checkGrantOption, type GrantOption, type NormalizedGrant } from "./grants/option.js";
import { checkMutualTlsTransport } from "./mtls.js";
import type { TokenStore } from "./store.js";

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

/**
 * Options of {@link ClientCredentialsClient}, validated by the constructor: a bad or missing option is
 * a `TypeError` that names it. One of `issuer`, `tokenEndpoint` or `provider` + `tenant` is required,
 * and one credential: `clientSecret`, `privateKey`, or a `fetch` that presents a client certificate.
 *
 * @example
 * ```ts
 * new ClientCredentialsClient({ issuer: "https://tenant.example.com/", clientId, clientSecret });
 * ```
 */
export interface ClientCredentialsClientOptions {
  /**
   * Issuer identifier URL (`https:`; `http:` only on loopback unless `allowInsecureHttp`). The token
   * endpoint is discovered from `/.well-known/openid-configuration`, then RFC 8414
   * `/.well-known/oauth-authorization-server`, on the first token request; the metadata's `issuer`
   * must equal this value exactly (trailing slash included). Either this, `tokenEndpoint`, or
   * `provider` + `tenant`.
   */
  issuer?: string;
  /** Token endpoint URL (RFC 6749 §3.2); skips discovery. Same URL rules as `issuer`. */
  tokenEndpoint?: string;
  /** The M2M application's client id, as the provider's console shows it. Required, non-empty. */
  clientId: string;
  /**
   * The M2M application's client secret, for `client_secret_basic` (RFC 6749 §2.3.1),
   * `client_secret_post` and `client_secret_jwt` (RFC 7523). Never shown by `toString`, `inspect`,
   * `JSON.stringify`, an error or an event.
   */
  clientSecret?: string;
  /**
   * Private key for `private_key_jwt` (RFC 7523 §2.2 assertions signed with it): a private JWK, a
   * PKCS#8 PEM string or a `CryptoKey`. A public key or a malformed value is a `TypeError`. Giving it
   * makes `private_key_jwt` the default `authMethod`.
   */
  privateKey?: JWK | string | CryptoKey;
  /**
   * JWS `alg` of the assertion (`RS256`, `PS256`, `ES256`, `EdDSA`, …). Default: the JWK's `alg`, else
   * from the key type. Only with `privateKey` (a `TypeError` without it).
   */
  privateKeyAlg?: string;
  /**
   * `kid` header of the assertion, as registered with the provider. Default: the JWK's `kid`, else none.
   * Only with `privateKey` (a `TypeError` without it).
   */
  keyId?: string;
  /**
   * Provider preset: its request style (`audience=`, `resource=`, Entra `/.default`, …) and default
   * `authMethod`. Inferred from well-known issuer hosts when omitted; an unknown name is a `TypeError`.
   */
  provider?: ProviderName;
  /** With `provider`, instead of `issuer`: the tenant (domain, subdomain or id) the issuer is built from. */
  tenant?: string;
  /**
   * An assertion issued by the workload's platform, sent as `client_assertion` (RFC 7523 §2.2,
   * `private_key_jwt`) instead of a stored secret: a Kubernetes projected service-account token, a
   * GitHub Actions or cloud OIDC token, a SPIFFE JWT-SVID (`kind: "jwt-spiffe"` sends
   * `client_assertion_type` `urn:ietf:params:oauth:client-assertion-type:jwt-spiffe`). A JWT string
   * (used until it expires), a function, or an {@link AssertionSource} such as `fileAssertion(path)` or
   * `githubActionsAssertion(…)`; asked afresh for every token request. One that has expired or expires
   * within 10 s is a `ClientAssertionError` (`ERR_CLIENT_ASSERTION`) and no request is sent. The cache
   * key holds a hash of the current assertion's `iss`, `sub` and `aud` (read without verifying), never
   * the assertion. Excludes `clientSecret` and `privateKey`.
   */
  clientAssertion?: AssertionInput;
  /**
   * A grant in place of client credentials: a platform token exchanged for an access token (RFC 8693,
   * `{ type: "token-exchange", subjectToken, subjectTokenType }`) or sent as a JWT bearer grant (RFC
   * 7523 §2.1, `{ type: "jwt-bearer", assertion }`). The client may authenticate too (a secret, a key,
   * a client assertion) or not at all (`authMethod` `none`: `client_id` only). Default: client credentials.
   */
  grant?: GrantOption;
  /**
   * Client authentication method. Default: see docs/client.md ("Client authentication");
   * `private_key_jwt` with `privateKey` or `clientAssertion`; `none` with a `grant` and no credential;
   * `tls_client_auth` when no secret or key is given and `fetch` (from `m2m-kit/node`) presents a
   * client certificate. `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2) need such a
   * `fetch`; one that is known to present no certificate is a `TypeError`.
   */
  authMethod?: AuthMethod;
  /**
   * `aud` of the assertions the client signs (`private_key_jwt` with `privateKey`, `client_secret_jwt`):
   * `"issuer"` (the issuer identifier, one string: draft-ietf-oauth-rfc7523bis; needs `issuer`),
   * `"tokenEndpoint"` (RFC 7523's old form), or a URL the provider asks for. Default: the provider
   * preset's rule (Okta, Entra, Hydra and Asgardeo document the token endpoint), else `"issuer"`, or
   * `"tokenEndpoint"` when only `tokenEndpoint` is configured. A client that signs no assertion (a
   * `clientAssertion`, a secret sent with `client_secret_basic` or `_post`, a grant alone) refuses it
   * with a `TypeError`.
   */
  assertionAudience?: AssertionAudience;
  /**
   * `typ` header of the assertions the client signs: `true` writes `client-authentication+jwt`
   * (draft-ietf-oauth-rfc7523bis §4), `false` writes `JWT` for servers that still want the old form.
   * Default: the provider preset's rule, else `true`. Refused where the client signs no assertion, as
   * `assertionAudience` is.
   */
  assertionTyp?: boolean;
  /**
   * How the target API is sent: `audience`, `resource` (RFC 8707) or not at all (`none`). Default: the
   * preset's translation (Entra `{audience}/.default`, Cognito `{audience}/{scope}`, Zitadel's project
   * `…:aud` scope, `audience=`, `resource=`, or nothing), else `resource`. Setting it replaces the
   * preset's translation.
   */
  audienceParam?: AudienceParam;
  /** Audience (the API's identifier) used when a call names none. Default: none. */
  defaultAudience?: string;
  /**
   * Scopes used when a call names none: a space-delimited string or a list of RFC 6749 §3.3 scope
   * tokens (an invalid token is a `TypeError`). Default: none.
   */
  defaultScope?: string | string[];
  /**
   * Extra form parameters sent with every token request (a plain object of strings). Parameters the
   * client sets itself (`grant_type`, `client_id`, `client_secret`, `client_assertion*`) and those
   * that name the target of a call (`scope`, `audience`, `resource`: give them per call or as
   * `defaultAudience` / `defaultScope`) are a `TypeError`.
   */
  extraParams?: Record<string, string>;
  /**
   * `fetch` used for discovery and token requests, and by `client.fetch`. Default: the global `fetch`.
   * `createNodeFetch()` from `m2m-kit/node` adds proxies, a custom CA and client certificates.
   */
  fetch?: FetchLike;
  /** Timeout of each HTTP request (each attempt, not the whole call), in ms. Default 10 000. */
  timeoutMs?: number;
  /**
   * Retry policy for transient failures (network errors, timeouts, 5xx, 429; `Retry-After` is
   * honoured), or `false` for none. OAuth errors (4xx) are never retried. Default
   * `{ retries: 3, minDelayMs: 200, maxDelayMs: 10_000, maxElapsedMs: 30_000 }`.
   */
  retry?: RetryOptions | false;
  /**
   * Fixed refresh window, in seconds before expiry (capped at half the token's lifetime). Default:
   * 10% of the lifetime, at least 60 s, at most half, shortened by up to 10% random jitter.
   */
  refreshWindowSeconds?: number;
  /** Lifetime assumed for a token whose response has no `expires_in` and that is not a JWT, in seconds. Default 300. */
  defaultTokenLifetimeSeconds?: number;
  /**
   * Where tokens are kept. Default: a bounded in-memory store private to this client. Share one
   * across processes with `createRedisTokenStore` (`m2m-kit/redis`) or `FileTokenStore`
   * (`m2m-kit/node`). An object without `get`, `set` and `delete` is a `TypeError`.
   */
  store?: TokenStore;
  /**
   * Bound of the default in-memory store, and of the client's own per-key state (audience index,
   * back-offs, failed keys) with any store. Default 1000 entries.
   */
  cacheMaxEntries?: number;
  /** Allow `http:` URLs on hosts other than loopback (`localhost`, `*.localhost`, `127.x.x.x`, `[::1]`). Default false. */
  allowInsecureHttp?: boolean;
  /**
   * `client.fetch` after a 401 from the API: `true` (default) replaces the token once, however young
   * it is (the API may have revoked it), and sends the request once more, whatever the method (a 401
   * means the API did not act on the request); the replacement is a newer token from a shared store
   * when there is one, else a new one. `"idempotent"` does so only for GET, HEAD, OPTIONS, TRACE, PUT
   * and DELETE; `false` returns every 401 as it is and keeps the token. When the replacement is
   * refused too, that 401 is returned and the key backs off (30 s, doubling up to 10 min; any other
   * answer ends it): a wrong audience costs one extra token request, not one per call.
   */
  retryOnUnauthorized?: boolean | "idempotent";
  /**
   * Receives events (cache hits, fetches, retries, refreshes, …; see {@link ClientEvent}), called
   * synchronously. Errors it throws are ignored. `logEvents(logger)` turns them into log lines.
   */
  onEvent?: (event: ClientEvent) => void;
  /** Time source for expiry, refresh windows and back-offs. Default: the system clock (`Date.now`, timers). Tests inject one. */
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

/** The names of {@link ClientCredentialsClientOptions}. */
export const CLIENT_OPTION_NAMES: OptionNames<ClientCredentialsClientOptions> = {
  issuer: true,
  tokenEndpoint: true,
  clientId: true,
  clientSecret: true,
  privateKey: true,
  privateKeyAlg: true,
  keyId: true,
  provider: true,
  tenant: true,
  clientAssertion: true,
  grant: true,
  authMethod: true,
  assertionAudience: true,
  assertionTyp: true,
  audienceParam: true,
  defaultAudience: true,
  defaultScope: true,
  extraParams: true,
  fetch: true,
  timeoutMs: true,
  retry: true,
  refreshWindowSeconds: true,
  defaultTokenLifetimeSeconds: true,
  store: true,
  cacheMaxEntries: true,
  allowInsecureHttp: true,
  retryOnUnauthorized: true,
  onEvent: true,
  clock: true,
  dpop: true,
};

const WHERE = "new ClientCredentialsClient()";

export interface NormalizedOptions {
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  clientId: string;
  provider: ProviderName | undefined;
  authMethod: AuthMethod | undefined;
  /** `undefined`: the preset's rule, else the issuer (see `assertionStyle`). */
  assertionAudience: AssertionAudience | undefined;
  assertionTyp: boolean | undefined;
  clientAssertion: ResolvedSource | undefined;
  grant: NormalizedGrant | undefined;
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
  "assertion",
  "subject_token",
  "subject_token_type",
  "actor_token",
  "actor_token_type",
  "requested_token_type",
  "audience",
  "resource",
]);

/**
 * Why an `extraParams` name is refused. The target (`audience`, `resource`, `scope`) is the call's:
 * set for every call, it would get a token for another API labelled, cached and sent as the one asked for.
 */
function reservedParamMessage(name: string): string {
  return name === "audience" || name === "resource" || name === "scope"
    ? `extraParams.${name} names the target of each token request, which is the call's: pass it as getToken({ audience, scope }) or defaultAudience / defaultScope (audienceParam says how the audience is sent)`
    : `extraParams.${name} is set by the client and cannot be overridden`;
}

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

/**
 * Refuses a URL with a user name or password: they would be sent to the server and shown wherever
 * the URL is (messages, events, `toString`). The message names the option, never the URL.
 */
export function withoutCredentials(url: URL, option: string): URL {
  return refuseCredentials(url, option, "use clientId and clientSecret");
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
    checkScopeTokens([scope], option);
    scopes.push(scope);
  }
  return [...new Set(scopes)].sort();
}

/** Validates the constructor options; every problem is a `TypeError` naming the option. */
export function normalizeOptions(options: ClientCredentialsClientOptions): NormalizedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("ClientCredentialsClient options must be an object");
  }
  checkOptionNames(options, [CLIENT_OPTION_NAMES], WHERE);
  options = knownOptions(options, [CLIENT_OPTION_NAMES]);
  if (options.allowInsecureHttp !== undefined && typeof options.allowInsecureHttp !== "boolean") {
    throw new TypeError("allowInsecureHttp must be a boolean");
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
      : withoutCredentials(checkUrl(options.issuer, "issuer", allowInsecureHttp), "issuer") && options.issuer;
  const tokenEndpoint =
    options.tokenEndpoint === undefined
      ? undefined
      : withoutCredentials(
          checkUrl(options.tokenEndpoint, "tokenEndpoint", allowInsecureHttp),
          "tokenEndpoint",
        ).href;

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
  const clientAssertion =
    options.clientAssertion === undefined
      ? undefined
      : resolveAssertionInput(options.clientAssertion, "clientAssertion");
  const credentialCount = [options.clientSecret, options.privateKey, clientAssertion].filter(
    (credential) => credential !== undefined,
  ).length;
  if (credentialCount > 1) {
    throw new TypeError("set one credential: clientSecret, privateKey or clientAssertion");
  }
  const grant = checkGrantOption(options.grant, WHERE);
  const noCredentials = credentialCount === 0;
  // A transport that presents a client certificate and no other credential: RFC 8705 §2.
  const method =
    options.authMethod ??
    (noCredentials && transportInfo(options.fetch)?.presentsClientCertificate
      ? "tls_client_auth"
      : noCredentials && grant
        ? "none"
        : undefined);
  if (method === undefined && noCredentials) {
    throw new TypeError(
      "clientSecret, privateKey or clientAssertion is required (or authMethod tls_client_auth with a fetch that presents a client certificate)",
    );
  }
  checkMutualTlsTransport(method, options.fetch);
  if (method?.startsWith("client_secret_") && options.clientSecret === undefined) {
    throw new TypeError(`clientSecret is required for authMethod ${method}`);
  }
  if (method === "private_key_jwt" && options.privateKey === undefined && clientAssertion === undefined) {
    throw new TypeError("privateKey or clientAssertion is required for authMethod private_key_jwt");
  }
  if (clientAssertion !== undefined && method !== undefined && method !== "private_key_jwt") {
    throw new TypeError(`clientAssertion is sent with authMethod private_key_jwt, not ${method}`);
  }
  if (method === "none" && (!grant || !noCredentials)) {
    throw new TypeError(
      "authMethod none (client_id only) is for a grant whose assertion is the credential: it needs the grant option and no clientSecret, privateKey or clientAssertion",
    );
  }

  const assertionAudience = options.assertionAudience;
  if (assertionAudience !== undefined) {
    if (assertionAudience !== "tokenEndpoint" && assertionAudience !== "issuer") {
      withoutCredentials(checkUrl(assertionAudience, "assertionAudience", true), "assertionAudience");
    }
    if (assertionAudience === "issuer" && issuer === undefined) {
      throw new TypeError('assertionAudience "issuer" needs the issuer option');
    }
  }
  if (options.assertionTyp !== undefined && typeof options.assertionTyp !== "boolean") {
    throw new TypeError("assertionTyp must be a boolean");
  }
  if (
    clientAssertion !== undefined &&
    (assertionAudience !== undefined || options.assertionTyp !== undefined)
  ) {
    throw new TypeError(
      `${assertionAudience !== undefined ? "assertionAudience" : "assertionTyp"} applies to assertions the client signs; a clientAssertion's aud and typ are set by its issuer`,
    );
  }
  // What shapes the client's own assertion, given where it signs none, would be silently ignored.
  for (const name of ["privateKeyAlg", "keyId"] as const) {
    if (options[name] === undefined || options.privateKey !== undefined) continue;
    throw new TypeError(
      clientAssertion !== undefined
        ? `${name} describes the key the client signs with (privateKey); a clientAssertion is signed by its issuer`
        : `${name} describes the key the client signs with: it needs privateKey`,
    );
  }
  const signs =
    method === "client_secret_jwt" ||
    (options.privateKey !== undefined && (method === undefined || method === "private_key_jwt"));
  if (!signs && (assertionAudience !== undefined || options.assertionTyp !== undefined)) {
    throw new TypeError(
      `${assertionAudience !== undefined ? "assertionAudience" : "assertionTyp"} applies to assertions the client signs (private_key_jwt with privateKey, client_secret_jwt), and ${
        method === undefined
          ? "with clientSecret the client signs one only with authMethod client_secret_jwt"
          : `authMethod ${method} signs none`
      }`,
    );
  }

  if (options.defaultAudience !== undefined) nonEmptyString(options.defaultAudience, "defaultAudience");
  const defaultScope = normalizeScope(options.defaultScope, "defaultScope");

  const extraParams: Record<string, string> = {};
  if (options.extraParams !== undefined) {
    if (!isFreeFormMap(options.extraParams)) {
      throw new TypeError("extraParams must be a plain object of strings");
    }
    for (const [name, value] of Object.entries(options.extraParams)) {
      if (typeof value !== "string") throw new TypeError(`extraParams.${name} must be a string`);
      if (RESERVED_PARAMS.has(name)) throw new TypeError(reservedParamMessage(name));
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
  checkDpopOption(options.dpop, WHERE);
  if (
    options.clock !== undefined &&
    (typeof options.clock !== "object" ||
      options.clock === null ||
      typeof options.clock.now !== "function" ||
      typeof options.clock.sleep !== "function")
  ) {
    throw new TypeError("clock must be an object with now() and sleep(ms, signal)");
  }

  let retry: RetryPolicy | false;
  if (options.retry === false) {
    retry = false;
  } else if (options.retry === undefined) {
    retry = DEFAULT_RETRY;
  } else if (typeof options.retry !== "object" || options.retry === null || Array.isArray(options.retry)) {
    throw new TypeError("retry must be an object or false");
  } else {
    checkOptionNames(options.retry, [RETRY_OPTION_NAMES], WHERE, "retry.");
    retry = { ...DEFAULT_RETRY };
    for (const field of ["retries", "minDelayMs", "maxDelayMs", "maxElapsedMs"] as const) {
      const value = options.retry[field];
      if (value !== undefined) retry[field] = positive(value, `retry.${field}`, { allowZero: true });
    }
    if (!Number.isInteger(retry.retries)) throw new TypeError("retry.retries must be an integer");
    if (retry.minDelayMs > retry.maxDelayMs) {
      throw new TypeError("retry.minDelayMs must not be larger than retry.maxDelayMs");
    }
  }

  return {
    issuer,
    tokenEndpoint,
    clientId,
    provider: options.provider,
    authMethod: method,
    assertionAudience,
    assertionTyp: options.assertionTyp,
    clientAssertion,
    grant,
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
