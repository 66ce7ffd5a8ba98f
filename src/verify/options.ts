import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import type { DpopOptions, DpopProofVerifier } from "../dpop/verify.js";
import type { FetchLike } from "../lib/http.js";
import type { OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import type { ProviderName } from "../providers.js";
import type { VerifyAlgorithm } from "./algorithms.js";
import type { ClaimRule } from "./claims.js";
import type { Confirmation } from "./confirmation.js";
import type { Actor, AllowedActor, DelegationMode } from "./delegation.js";
import type { VerifierEventListener } from "./events.js";
import type { IntrospectionOptions } from "./introspection.js";
import type { JwksOptions } from "./jwks.js";
import type { ScopeRequirement } from "./scopes.js";

/** The rules of one issuer: the token's `iss` selects them before any key is fetched. */
export interface IssuerOptions {
  /**
   * The issuer, compared exactly with `iss`. Or `provider` and `tenant`. A template with one
   * placeholder (`https://login.microsoftonline.com/{tenantid}/v2.0`) accepts the tenants of
   * `tenants`: the placeholder stands for 1 to 64 letters, digits and `-`, inside one host label or
   * one path segment.
   */
  issuer?: string;
  /**
   * With `provider`, instead of `issuer`: the tenant the issuer(s) are built from (Entra: v2 and v1).
   * Entra's `"common"` and `"organizations"` mean every tenant: the templates
   * `https://login.microsoftonline.com/{tenantid}/v2.0` and `https://sts.windows.net/{tenantid}/`,
   * with `tenants` required.
   */
  tenant?: string;
  /**
   * The tenants accepted under an issuer template: their ids, or `"any"` for every tenant of the
   * provider. Required with a template. Under `"any"` an administrator of any tenant can grant their
   * own apps this API's app roles: authorize on `AuthResult.tenant` yourself (docs/tenants.md). With a
   * fixed issuer and `tenantClaim`: the accepted values of that claim. A token of another tenant is
   * refused (`ERR_JWT_ISSUER`) before any key is fetched.
   */
  tenants?: readonly string[] | "any";
  /**
   * The token's own tenant claim (Entra preset: `tid`). It must equal the tenant the `iss` names (the
   * template's placeholder, or `tenant`), else `ERR_JWT_ISSUER`; with a fixed issuer it names the
   * token's tenant (`AuthResult.tenant`). A token without it: `ERR_JWT_CLAIM_MISSING`.
   */
  tenantClaim?: string;
  /**
   * Delegated tokens (RFC 8693 §4.1, an `act` claim): `"allow"` (the chain is reported as
   * `AuthResult.actor`), `"forbid"` or `"require"`. A refusal is a `ClaimPolicyError` on `act` (403).
   * Default `"allow"`.
   */
  delegation?: DelegationMode;
  /**
   * The actors that may act for a token's subject, matched against the outermost actor only (the
   * inner ones are informational, RFC 8693 §4.1): `{ sub, iss? }` (`iss` defaults to the token's
   * issuer) or `{ client_id }`. A token without `act` passes unless `delegation: "require"`.
   * Default: any actor.
   */
  allowedActors?: readonly AllowedActor[];
  /** Accepted audience(s); the token's audience claim must contain one. `null` turns the check off, explicitly. */
  audience: string | readonly string[] | null;
  /** Provider preset: sets `scopeClaim`, `audienceClaim` and claim policies; options still win. */
  provider?: ProviderName;
  /**
   * JWKS URL of this issuer. Default: the top-level `jwksUri`, else `jwks_uri` from discovery. With
   * an issuer template it may hold the same placeholder (one key set per tenant); without one it is
   * a key set every tenant shares.
   */
  jwksUri?: string;
  /**
   * Claim(s) holding the scopes. Default: the preset's, else `scope`, `scp`, `permissions` and `roles`.
   * A name that is not a claim but contains dots is a path (`realm_access.roles`; `*` matches any
   * key); an object claim contributes its keys.
   */
  scopeClaim?: string | readonly string[];
  /** The claim checked against `audience`. Default `aud` (Cognito's preset: `client_id`). */
  audienceClaim?: string;
  /** Claim policies; a failure is a 403 (`ClaimPolicyError`), not a bad token. Added to the preset's. */
  claims?: Readonly<Record<string, ClaimRule>>;
  /** `true`: header `typ` must be `at+jwt` or `application/at+jwt` (RFC 9068); a string: that value. */
  requireTyp?: boolean | string;
  /**
   * Keycloak: the client(s) whose roles in `resource_access.<client>.roles` count as scopes. Default:
   * the `audience` (the API's own client). Roles other clients define never count.
   */
  resourceClientId?: string | readonly string[];
}

/** The names of {@link IssuerOptions}: each `issuers` entry, and the top level, take these. */
export const ISSUER_OPTION_NAMES: OptionNames<IssuerOptions> = {
  issuer: true,
  tenant: true,
  tenants: true,
  tenantClaim: true,
  delegation: true,
  allowedActors: true,
  audience: true,
  provider: true,
  jwksUri: true,
  scopeClaim: true,
  audienceClaim: true,
  claims: true,
  requireTyp: true,
  resourceClientId: true,
};

/**
 * Options of {@link createVerifier} and {@link verifyAccessToken}: one issuer rule set (`issuer` and
 * `audience`), or several (`issuers`), plus the {@link SharedVerifierOptions}. Validated when the
 * verifier is created: a bad or missing option is a `TypeError` that names it.
 *
 * @example
 * ```ts
 * createVerifier({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" });
 * ```
 */
export type VerifierOptions = SharedVerifierOptions &
  (
    | {
        /**
         * Accepted issuer(s) (RFC 9068 §4: `iss` must match exactly, trailing slash included), also
         * where discovery starts when `jwksUri` is not set. Or `provider` and `tenant`. Required
         * otherwise.
         */
        issuer?: string | readonly string[];
        /**
         * Accepted audience(s), usually the API's identifier; the token's `aud` (string or array) must
         * contain one (RFC 9068 §4). Required; `null` turns the check off, explicitly.
         */
        audience: string | readonly string[] | null;
        /** Not with `issuer`: use one form or the other. */
        issuers?: undefined;
      }
    | {
        /**
         * Several issuers, each with its own rules, instead of `issuer` and `audience`. Per-issuer
         * options given at the top level (`provider`, `scopeClaim`, `jwksUri`, …) are defaults an
         * entry may override. Or a resolver, for tenants kept in a database: called with the token's
         * `iss` before any key is fetched, it answers that issuer's entry (`issuer` may be left out)
         * or `undefined` to refuse the token; answers are cached for `resolverCacheMs`.
         */
        issuers: readonly IssuerOptions[] | IssuerResolver;
        /** Not with `issuers`: each entry has its own `issuer`. */
        issuer?: undefined;
        /** Not with `issuers`: each entry has its own `audience`. */
        audience?: undefined;
      }
  );

/**
 * Finds the rules of an issuer kept elsewhere (a database of tenants): the entry for `iss`, or
 * `undefined` to refuse the token. A rejection is a `VerifierUnavailableError` (503) for that token.
 *
 * @example
 * ```ts
 * const issuers: IssuerResolver = async (iss) => {
 *   const tenant = await db.tenantByIssuer(iss);
 *   return tenant && { issuer: iss, audience: "https://api.example.com", claims: { azp: tenant.clients } };
 * };
 * ```
 */
export type IssuerResolver = (iss: string) => IssuerOptions | undefined | Promise<IssuerOptions | undefined>;

/** Options shared by every issuer of a verifier. */
export interface SharedVerifierOptions extends Omit<IssuerOptions, "issuer" | "audience"> {
  /**
   * How long the answers of an `issuers` resolver are kept, `undefined` (a refusal) included, in ms.
   * Default 300 000. Only with `issuers` as a function.
   */
  resolverCacheMs?: number;
  /** Allowed `alg`s. Default: RS/PS/ES 256/384/512, Ed25519 and EdDSA. HMAC and `none` are never accepted. */
  algorithms?: readonly VerifyAlgorithm[];
  /** Tolerance for `exp`, `nbf` and `iat`, in seconds, for clocks that differ. Default 5. */
  clockToleranceSeconds?: number;
  /**
   * Scopes every token must have (a per-call `requiredScopes` adds to these): a list (all of them), or
   * `{ anyOf }` / `{ allOf }`. A token without them is an `InsufficientScopeError` (403). Default: none.
   */
  requiredScopes?: ScopeRequirement;
  /**
   * Refuse tokens whose `iat` is older than this many seconds (`ERR_JWT_TOO_OLD`; a token without
   * `iat` is `ERR_JWT_CLAIM_MISSING`). Default: no limit.
   */
  maxTokenAgeSeconds?: number;
  /** Tokens longer than this many bytes are refused (`ERR_JWT_TOO_LARGE`) before any decoding. Default 16 384. */
  maxTokenBytes?: number;
  /**
   * JWKS cache settings. Default `{ cacheMaxAgeMs: 600_000, cooldownMs: 30_000, timeoutMs: 5_000,
   * staleMaxAgeMs: 86_400_000 }`.
   */
  jwks?: JwksOptions;
  /** RFC 7662 introspection for opaque (non-JWT) tokens, or for every token with `allTokens`. */
  introspection?: IntrospectionOptions;
  /**
   * Cache of verified tokens, keyed by the token itself, or `false`. An entry never outlives the
   * token's `exp` nor a change of the key set, and every per-call check (audience, scopes, claim
   * policies, DPoP) still runs on a hit. On by default.
   */
  verifiedTokenCache?:
    | {
        /** Most tokens kept, least recently used dropped first. Default 10 000. */
        maxEntries?: number;
      }
    | false;
  /**
   * `fetch` for discovery, JWKS and introspection. Default: the global `fetch`. `createNodeFetch()`
   * from `m2m-kit/node` adds proxies and a custom CA.
   */
  fetch?: FetchLike;
  /** Time source; tests inject one. Default: `Date.now`. */
  clock?: {
    /** Milliseconds since the epoch. */
    now(): number;
  };
  /** Allow `http:` URLs on hosts other than loopback (`localhost`, `127.x.x.x`, `[::1]`). Default false. */
  allowInsecureHttp?: boolean;
  /**
   * DPoP (RFC 9449): accept `Authorization: DPoP` with a `DPoP` proof, checked on every request
   * (the verified-token cache still serves the token). See {@link DpopOptions}. Without it, the
   * `DPoP` scheme is refused, and so is every token with `cnf.jkt` ("this API does not accept
   * DPoP-bound access tokens"). A token with `cnf.jkt` is never accepted as a Bearer token: see
   * {@link VerifyCallOptions.confirmation}.
   */
  dpop?: DpopOptions;
  /**
   * Told of key-set fetches and failures, stale keys, cooldowns, refused tokens and introspection
   * ({@link VerifierEvent}), synchronously. Errors it throws are ignored.
   */
  onEvent?: VerifierEventListener;
}

/** The names of {@link VerifierOptions} besides the per-issuer ones ({@link ISSUER_OPTION_NAMES}). */
export const VERIFIER_OPTION_NAMES: OptionNames<VerifierOptions, IssuerOptions> = {
  issuers: true,
  resolverCacheMs: true,
  algorithms: true,
  clockToleranceSeconds: true,
  requiredScopes: true,
  maxTokenAgeSeconds: true,
  maxTokenBytes: true,
  jwks: true,
  introspection: true,
  verifiedTokenCache: true,
  fetch: true,
  clock: true,
  allowInsecureHttp: true,
  dpop: true,
  onEvent: true,
};

/** The names of `verifiedTokenCache`. */
export const VERIFIED_TOKEN_CACHE_OPTION_NAMES: OptionNames<
  Exclude<SharedVerifierOptions["verifiedTokenCache"], false | undefined>
> = { maxEntries: true };

/** The result of a successful verification. */
export interface AuthResult<Claims extends JWTPayload = JWTPayload> {
  /** The token's verified payload (for an introspected token: the introspection answer's claims). */
  claims: Claims;
  /** The token's JWS protected header (`alg`, `kid`, `typ`, …); empty for an introspected token. */
  header: ProtectedHeaderParameters;
  /** Scopes from `scope`, `scp`, `permissions` and `roles` (or `scopeClaim`), deduplicated. */
  scopes: readonly string[];
  /** From `client_id`, `azp`, `cid` or `appid`. */
  clientId: string | undefined;
  /** The token's `sub`: for an M2M token usually the client, for a user's token the user. */
  subject: string | undefined;
  /** The token's `iss` (one of the configured issuers). */
  issuer: string;
  /** `exp` in milliseconds since the epoch. */
  expiresAt: number;
  /**
   * The tenant the token was matched to: an issuer template's placeholder (`{tenantid}`), the
   * configured `tenant`, or the value of `tenantClaim`; absent for an issuer without tenants.
   */
  tenant?: string;
  /**
   * The delegation chain of a token with an `act` claim (RFC 8693 §4.1): the outermost (current)
   * actor, whose `actor` is the one before it. Absent for a token without `act`.
   */
  actor?: Actor;
}

/** Options of one {@link Verifier.verify} call; a bad one is a `TypeError` naming it. */
export interface VerifyCallOptions {
  /** Scopes this call needs, in addition to the verifier's. */
  requiredScopes?: ScopeRequirement;
  /** Audience(s) for this call, instead of the verifier's. */
  audience?: string | readonly string[];
  /**
   * What this call checked of the request for a sender-constrained token (RFC 7800 `cnf`): the
   * thumbprint of the DPoP proof key (`jkt`, RFC 9449) and/or of the TLS client certificate
   * (`"x5t#S256"`, RFC 8705) of the request, or `"checked-by-caller"` when the caller checks
   * `claims.cnf` itself. Default: nothing was checked, and a token or introspection answer with
   * `cnf` is refused (`InvalidTokenError`: `ERR_DPOP_BOUND_AS_BEARER` for `cnf.jkt`,
   * `ERR_DPOP_BINDING` for another key, `ERR_CERTIFICATE_BINDING` for a certificate binding that
   * does not match, `ERR_CNF_UNSUPPORTED` for any other member). The adapters pass what they
   * checked; a direct caller opts in visibly. Evaluated on every call, cached token or not.
   *
   * @example
   * ```ts
   * const proof = await dpop.verify({ proof: dpopHeader, method: "GET", url, accessToken: token });
   * const auth = await verifier.verify(token, { confirmation: { jkt: proof.thumbprint } });
   * ```
   */
  confirmation?: Confirmation;
  /**
   * Receives a key-set refresh this call starts but does not wait for, so that the runtime keeps it
   * alive after the response: a Worker's `ctx.waitUntil`, Next.js's `after`. On Cloudflare Workers,
   * without it such a refresh runs in this call.
   */
  waitUntil?: WaitUntil;
}

/** The names of {@link VerifyCallOptions}. */
export const VERIFY_CALL_OPTION_NAMES: OptionNames<VerifyCallOptions> = {
  requiredScopes: true,
  audience: true,
  waitUntil: true,
  confirmation: true,
};

/**
 * A verifier made by {@link createVerifier}: checks access tokens against one configuration, with one
 * JWKS cache per key-set URI. Create one per API and keep it (the caches are what makes it fast).
 */
export interface Verifier {
  /** Verifies an access token; resolves with the result or rejects with an `M2MError`. */
  verify<Claims extends JWTPayload = JWTPayload>(
    token: string,
    options?: VerifyCallOptions,
  ): Promise<AuthResult<Claims>>;
  /**
   * Discovers and fetches the keys of every configured issuer now (with templates: of the listed
   * tenants; a tenant under `tenants: "any"` or a resolver's issuer is fetched on its first token).
   */
  warmUp(): Promise<void>;
  /** JWKS cache state per JWKS URI, for tests and metrics. */
  readonly jwks: ReadonlyArray<JwksState>;
  /** The DPoP proof check, when the verifier was created with `dpop`. */
  readonly dpop?: DpopProofVerifier | undefined;
}

/** A read-only view of one JWKS cache of a verifier ({@link Verifier.jwks}). */
export interface JwksState {
  /** The key-set URI (`jwksUri` or the discovered `jwks_uri`). */
  readonly uri: string;
  /** Keys are cached and younger than their max age (`jwks.cacheMaxAgeMs` or the server's `max-age`). */
  readonly fresh: boolean;
  /** A refetch for an unknown `kid` would be refused now (less than `jwks.cooldownMs` since the last fetch). */
  readonly coolingDown: boolean;
  /** When the keys were last fetched successfully, ms since the epoch; `undefined` before that. */
  readonly lastRefreshAt: number | undefined;
  /** JWKS requests made so far, failed ones included. */
  readonly fetchCount: number;
  /** Keys in the cached set (0 before the first fetch). */
  readonly keyCount: number;
}

export function toList(value: string | readonly string[], option: string): readonly string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === "string" && v !== "")) {
    throw new TypeError(`${option} must be a non-empty string or a non-empty array of strings`);
  }
  return list;
}

export function nonNegative(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${option} must be a non-negative finite number`);
  }
  return value;
}
