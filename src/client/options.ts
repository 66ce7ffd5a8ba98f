import type { JWK } from "jose";
import type { Clock } from "../lib/clock.js";
import type { FetchLike } from "../lib/http.js";
import type { OptionNames } from "../lib/option-names.js";
import type { RetryOptions } from "../lib/retry.js";
import type { AssertionAudience, AuthMethod } from "../oauth/client-auth.js";
import type { AudienceParam, ProviderName } from "../providers.js";
import type { AssertionInput, AssertionSource } from "../workload/source.js";
import type { ClientDpopOption } from "./dpop.js";
import type { ClientEvent } from "./events.js";
import type { GrantOption } from "./grants/option.js";
import type { TokenStore } from "./store.js";

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
