import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import { LRUCache } from "lru-cache";
import { platform } from "#platform";
import {
  ClaimPolicyError,
  DiscoveryError,
  InsufficientScopeError,
  type InvalidTokenCode,
  InvalidTokenError,
  VerifierUnavailableError,
} from "../errors.js";
import { discover } from "../lib/discovery.js";
import { checkUrl, type FetchLike } from "../lib/http.js";
import type { Platform } from "../platform/types.js";
import { PROVIDER_NAMES, type ProviderName, tenantIssuers, VERIFIER_PRESETS } from "../providers.js";
import { ASYMMETRIC_ALGS, type VerifyAlgorithm } from "./algorithms.js";
import { type IntrospectionOptions, Introspector } from "./introspection.js";
import { DEFAULT_JWKS, type JwksOptions, type JwksSettings, RemoteJwks } from "./jwks.js";

/** Scopes a call needs: all of a list (a string or array), or `{ anyOf }` / `{ allOf }`. */
export type ScopeRequirement =
  | string
  | readonly string[]
  | { anyOf: readonly string[] }
  | { allOf: readonly string[] };

/** A claim policy: an exact value, a list of allowed values, or a predicate. */
export type ClaimRule =
  | string
  | number
  | boolean
  | readonly (string | number | boolean)[]
  | ((value: unknown, claims: JWTPayload) => boolean);

export interface VerifierOptions {
  /** Accepted issuer(s), compared exactly with `iss`. Or `provider` and `tenant`. */
  issuer?: string | readonly string[];
  /** With `provider`, instead of `issuer`: the tenant the issuer(s) are built from (Entra: v2 and v1). */
  tenant?: string;
  /** Accepted audience(s); the token's `aud` must contain one. `null` turns the check off, explicitly. */
  audience: string | readonly string[] | null;
  /** JWKS URL. Default: `jwks_uri` from each issuer's discovery document. */
  jwksUri?: string;
  /** Allowed `alg`s. Default: RS/PS/ES 256/384/512 and EdDSA. HMAC and `none` are never accepted. */
  algorithms?: readonly VerifyAlgorithm[];
  /** Tolerance for `exp`, `nbf` and `iat`. Default 5. */
  clockToleranceSeconds?: number;
  /** Scopes every token must have (a per-call `requiredScopes` adds to these). */
  requiredScopes?: ScopeRequirement;
  /**
   * Claim(s) holding the scopes. Default: `scope`, `scp`, `permissions` and `roles`. A name that is not
   * a claim but contains dots is a path (`realm_access.roles`; `*` matches any key); an object claim
   * contributes its keys.
   */
  scopeClaim?: string | readonly string[];
  /** The claim checked against `audience`. Default `aud` (Cognito's preset: `client_id`). */
  audienceClaim?: string;
  /** Provider preset: sets `scopeClaim`, `audienceClaim` and claim policies; options still win. */
  provider?: ProviderName;
  /** `true`: header `typ` must be `at+jwt` or `application/at+jwt` (RFC 9068); a string: that value. */
  requireTyp?: boolean | string;
  /** Reject tokens whose `iat` is older than this. */
  maxTokenAgeSeconds?: number;
  /** Tokens longer than this are rejected before any decoding. Default 16 384. */
  maxTokenBytes?: number;
  /** Claim policies; a failure is a 403 (`ClaimPolicyError`), not a bad token. */
  claims?: Readonly<Record<string, ClaimRule>>;
  /** JWKS cache settings. */
  jwks?: JwksOptions;
  /** RFC 7662 introspection for opaque (non-JWT) tokens, or for every token with `allTokens`. */
  introspection?: IntrospectionOptions;
  /** Cache of verified tokens (on by default), or `false`. Default 10 000 entries. */
  verifiedTokenCache?: { maxEntries?: number } | false;
  /** `fetch` for discovery and JWKS. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Time source (ms since the epoch); tests inject one. */
  clock?: { now(): number };
  /** Allow `http:` URLs on hosts other than loopback. Default false. */
  allowInsecureHttp?: boolean;
}

/** The result of a successful verification. */
export interface AuthResult<Claims extends JWTPayload = JWTPayload> {
  claims: Claims;
  header: ProtectedHeaderParameters;
  /** Scopes from `scope`, `scp`, `permissions` and `roles` (or `scopeClaim`), deduplicated. */
  scopes: readonly string[];
  /** From `client_id`, `azp`, `cid` or `appid`. */
  clientId: string | undefined;
  subject: string | undefined;
  issuer: string;
  /** `exp` in milliseconds since the epoch. */
  expiresAt: number;
}

export interface VerifyCallOptions {
  /** Scopes this call needs, in addition to the verifier's. */
  requiredScopes?: ScopeRequirement;
  /** Audience(s) for this call, instead of the verifier's. */
  audience?: string | readonly string[];
}

export interface Verifier {
  /** Verifies an access token; resolves with the result or rejects with an `M2MError`. */
  verify<Claims extends JWTPayload = JWTPayload>(
    token: string,
    options?: VerifyCallOptions,
  ): Promise<AuthResult<Claims>>;
  /** Discovers and fetches the keys of every configured issuer now. */
  warmUp(): Promise<void>;
  /** JWKS cache state per JWKS URI, for tests and metrics. */
  readonly jwks: ReadonlyArray<JwksState>;
}

export interface JwksState {
  readonly uri: string;
  readonly fresh: boolean;
  readonly coolingDown: boolean;
  readonly lastRefreshAt: number | undefined;
  readonly fetchCount: number;
  readonly keyCount: number;
}

interface Header {
  alg: string;
  kid: string | undefined;
  typ: string | undefined;
  raw: ProtectedHeaderParameters;
}

interface VerifiedEntry {
  /** The whole token: the cache is keyed by its tail, a hit must match it exactly. */
  token: string;
  result: AuthResult;
  expiresAt: number;
  iat: number | undefined;
  aud: unknown;
  jwks: RemoteJwks<unknown>;
  version: number;
}

type AnyKey = unknown;

interface CallChecks {
  requirement: NormalizedRequirement | undefined;
  audience: readonly string[] | undefined;
}

const DOORKEEPER_SLOTS = 1024;
const CACHE_KEY_CHARS = 32;

const NO_HEADER: ProtectedHeaderParameters = Object.freeze({});

const NO_CALL_CHECKS: CallChecks = Object.freeze({ requirement: undefined, audience: undefined });

interface ParsedToken {
  token: string;
  signingInput: string;
  signature: string;
  header: Header;
  claims: JWTPayload;
  issuer: string;
  now: number;
}

const DEFAULT_SCOPE_CLAIMS = ["scope", "scp", "permissions", "roles"];

function invalid(code: InvalidTokenCode, message: string): InvalidTokenError {
  return new InvalidTokenError(code, message);
}

function toList(value: string | readonly string[], option: string): readonly string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === "string" && v !== "")) {
    throw new TypeError(`${option} must be a non-empty string or a non-empty array of strings`);
  }
  return list;
}

interface NormalizedRequirement {
  scopes: readonly string[];
  anyOf: boolean;
}

function normalizeRequirement(
  value: ScopeRequirement | undefined,
  option: string,
): NormalizedRequirement | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return { scopes: value.split(" ").filter(Boolean), anyOf: false };
  if (Array.isArray(value)) return { scopes: toList(value as string[], option), anyOf: false };
  if (typeof value === "object" && value !== null) {
    if ("anyOf" in value) return { scopes: toList(value.anyOf, `${option}.anyOf`), anyOf: true };
    if ("allOf" in value) return { scopes: toList(value.allOf, `${option}.allOf`), anyOf: false };
  }
  throw new TypeError(`${option} must be a string, an array of strings, { anyOf } or { allOf }`);
}

function checkScopes(requirement: NormalizedRequirement | undefined, granted: readonly string[]): void {
  if (!requirement || requirement.scopes.length === 0) return;
  const ok = requirement.anyOf
    ? requirement.scopes.some((s) => granted.includes(s))
    : requirement.scopes.every((s) => granted.includes(s));
  if (!ok) throw new InsufficientScopeError(requirement.scopes, granted, requirement.anyOf);
}

/** Values of a claim, or of a dotted path into nested claims (`*` matches every key). */
function claimValues(claims: JWTPayload, name: string): unknown[] {
  if (name in claims || !name.includes(".")) return [claims[name]];
  let current: unknown[] = [claims];
  for (const part of name.split(".")) {
    const next: unknown[] = [];
    for (const value of current) {
      if (typeof value !== "object" || value === null) continue;
      if (part === "*") next.push(...Object.values(value));
      else next.push((value as Record<string, unknown>)[part]);
    }
    current = next;
  }
  return current;
}

function scopesFrom(claims: JWTPayload, names: readonly string[]): string[] {
  const scopes: string[] = [];
  const add = (scope: unknown) => {
    if (typeof scope === "string" && scope !== "" && !scopes.includes(scope)) scopes.push(scope);
  };
  for (const name of names) {
    for (const value of claimValues(claims, name)) {
      if (typeof value === "string") for (const scope of value.split(" ")) add(scope);
      else if (Array.isArray(value)) for (const scope of value) add(scope);
      else if (typeof value === "object" && value !== null)
        for (const scope of Object.keys(value)) add(scope);
    }
  }
  return scopes;
}

function matchesRule(rule: ClaimRule, value: unknown, claims: JWTPayload): boolean {
  if (typeof rule === "function") {
    try {
      return rule(value, claims) === true;
    } catch {
      return false;
    }
  }
  const allowed: readonly unknown[] = Array.isArray(rule) ? rule : [rule];
  return Array.isArray(value) ? value.some((v) => allowed.includes(v)) : allowed.includes(value);
}

function nonNegative(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${option} must be a non-negative finite number`);
  }
  return value;
}

function typMatches(typ: string | undefined, required: string): boolean {
  if (typ === undefined) return false;
  const normalize = (t: string) => {
    const lower = t.toLowerCase();
    return lower.startsWith("application/") ? lower.slice(12) : lower;
  };
  return normalize(typ) === normalize(required);
}

/**
 * Creates a verifier of JWT access tokens: signature against the issuer's JWKS (cached), `alg`
 * allowlist, `iss`, `aud`, `exp`, `nbf`, `iat`, optional `typ`, scopes and claim policies.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" });
 * const auth = await verifier.verify(token, { requiredScopes: ["read:data"] });
 * auth.clientId; auth.scopes;
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  return new JwtVerifier(options, platform as Platform<AnyKey>);
}

/**
 * Adapters call this instead of `verify` so that a cached token is answered in the same tick (no
 * promise, no microtask): returns the result, or a promise when keys must be fetched; throws on failure.
 */
export const verifyNow: unique symbol = Symbol("m2m-kit.verifyNow");

class JwtVerifier implements Verifier {
  readonly #issuers: Set<string>;
  readonly #audiences: readonly string[] | null;
  readonly #algorithms: Set<string>;
  readonly #toleranceMs: number;
  readonly #required: NormalizedRequirement | undefined;
  readonly #scopeClaims: readonly string[];
  readonly #audienceClaim: string;
  readonly #requireTyp: string | undefined;
  readonly #maxAgeMs: number | undefined;
  readonly #maxTokenBytes: number;
  readonly #claims: ReadonlyArray<[string, ClaimRule]>;
  readonly #jwksSettings: JwksSettings;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #allowInsecureHttp: boolean;
  readonly #platform: Platform<AnyKey>;
  /** One JWKS for every issuer (jwksUri given), or one per issuer found by discovery. */
  readonly #sharedJwks: RemoteJwks<AnyKey> | undefined;
  readonly #jwksByIssuer = new Map<string, RemoteJwks<AnyKey>>();
  readonly #discovering = new Map<string, Promise<RemoteJwks<AnyKey>>>();
  readonly #discoveryFailedAt = new Map<string, { at: number; error: VerifierUnavailableError }>();
  readonly #headers = new LRUCache<string, Header>({ max: 256 });
  readonly #introspector: Introspector | undefined;
  #introspectionEndpoint: Promise<string> | undefined;
  readonly #verified: LRUCache<string, VerifiedEntry> | undefined;
  /** First sightings of tokens; a token enters the verified cache on its second verification. */
  readonly #doorkeeper = new Int32Array(DOORKEEPER_SLOTS);

  constructor(options: VerifierOptions, runtime: Platform<AnyKey>) {
    if (typeof options !== "object" || options === null)
      throw new TypeError("verifier options must be an object");
    this.#allowInsecureHttp = options.allowInsecureHttp === true;
    let issuer = options.issuer;
    if (options.tenant !== undefined) {
      if (options.provider === undefined || issuer !== undefined) {
        throw new TypeError("tenant goes with provider, instead of issuer");
      }
      if (!PROVIDER_NAMES.includes(options.provider))
        throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
      issuer = tenantIssuers(options.provider, toList(options.tenant, "tenant")[0] as string);
    }
    if (issuer === undefined) throw new TypeError("issuer is required (or provider and tenant)");
    this.#issuers = new Set(toList(issuer, "issuer"));
    if (options.audience === undefined) {
      throw new TypeError("audience is required (a string or array; null turns the audience check off)");
    }
    this.#audiences = options.audience === null ? null : toList(options.audience, "audience");
    const algorithms =
      options.algorithms === undefined ? ASYMMETRIC_ALGS : toList(options.algorithms, "algorithms");
    for (const alg of algorithms) {
      if (!(ASYMMETRIC_ALGS as readonly string[]).includes(alg)) {
        throw new TypeError(`algorithms: ${alg} is not allowed (asymmetric algorithms only)`);
      }
    }
    this.#algorithms = new Set(algorithms);
    this.#toleranceMs = nonNegative(options.clockToleranceSeconds ?? 5, "clockToleranceSeconds") * 1000;
    this.#required = normalizeRequirement(options.requiredScopes, "requiredScopes");
    if (options.provider !== undefined && !PROVIDER_NAMES.includes(options.provider)) {
      throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
    }
    const preset = options.provider === undefined ? undefined : VERIFIER_PRESETS[options.provider];
    this.#scopeClaims =
      options.scopeClaim === undefined
        ? (preset?.scopeClaim ?? DEFAULT_SCOPE_CLAIMS)
        : toList(options.scopeClaim, "scopeClaim");
    if (
      options.audienceClaim !== undefined &&
      (typeof options.audienceClaim !== "string" || options.audienceClaim === "")
    ) {
      throw new TypeError("audienceClaim must be a non-empty string");
    }
    this.#audienceClaim = options.audienceClaim ?? preset?.audienceClaim ?? "aud";
    if (
      options.requireTyp !== undefined &&
      typeof options.requireTyp !== "boolean" &&
      typeof options.requireTyp !== "string"
    ) {
      throw new TypeError("requireTyp must be a boolean or a string");
    }
    this.#requireTyp = options.requireTyp === true ? "at+jwt" : options.requireTyp || undefined;
    this.#maxAgeMs =
      options.maxTokenAgeSeconds === undefined
        ? undefined
        : nonNegative(options.maxTokenAgeSeconds, "maxTokenAgeSeconds") * 1000;
    this.#maxTokenBytes = nonNegative(options.maxTokenBytes ?? 16_384, "maxTokenBytes");
    if (options.claims !== undefined && (typeof options.claims !== "object" || options.claims === null)) {
      throw new TypeError("claims must be an object of claim rules");
    }
    this.#claims = Object.entries({ ...preset?.claims, ...options.claims });
    this.#jwksSettings = { ...DEFAULT_JWKS };
    for (const [name, value] of Object.entries(options.jwks ?? {})) {
      if (!(name in DEFAULT_JWKS)) throw new TypeError(`jwks.${name} is not a known option`);
      this.#jwksSettings[name as keyof JwksSettings] = nonNegative(value, `jwks.${name}`);
    }
    if (options.fetch !== undefined && typeof options.fetch !== "function")
      throw new TypeError("fetch must be a function");
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    const clock = options.clock;
    this.#now = clock ? () => clock.now() : Date.now;
    this.#platform = runtime;
    for (const issuer of this.#issuers) checkUrl(issuer, "issuer", this.#allowInsecureHttp);
    if (options.jwksUri !== undefined) {
      const uri = checkUrl(options.jwksUri, "jwksUri", this.#allowInsecureHttp).href;
      this.#sharedJwks = this.#newJwks(uri);
    }
    if (options.introspection !== undefined) {
      if (typeof options.introspection !== "object" || options.introspection === null) {
        throw new TypeError("introspection must be an object");
      }
      const { endpoint } = options.introspection;
      if (endpoint !== undefined) {
        this.#introspectionEndpoint = Promise.resolve(
          checkUrl(endpoint, "introspection.endpoint", this.#allowInsecureHttp).href,
        );
      } else if (this.#issuers.size !== 1) {
        throw new TypeError("introspection.endpoint is required with several issuers");
      }
      this.#introspector = new Introspector(
        options.introspection,
        this.#fetch,
        this.#now,
        this.#jwksSettings.timeoutMs,
      );
    }
    const cache = options.verifiedTokenCache;
    if (cache !== false) {
      const maxEntries =
        cache?.maxEntries === undefined
          ? 10_000
          : nonNegative(cache.maxEntries, "verifiedTokenCache.maxEntries");
      if (maxEntries > 0) this.#verified = new LRUCache({ max: maxEntries });
    }
  }

  get jwks(): ReadonlyArray<JwksState> {
    return this.#sharedJwks ? [this.#sharedJwks] : [...this.#jwksByIssuer.values()];
  }

  async warmUp(): Promise<void> {
    if (this.#sharedJwks) return this.#sharedJwks.warmUp();
    await Promise.all([...this.#issuers].map(async (issuer) => (await this.#jwksFor(issuer)).warmUp()));
  }

  verify<Claims extends JWTPayload = JWTPayload>(
    token: string,
    options?: VerifyCallOptions,
  ): Promise<AuthResult<Claims>> {
    // Synchronous all the way when the key is cached and the platform verifies synchronously
    // (node:crypto): no await on the hot path.
    try {
      const outcome = this.#verify(token, options);
      return (outcome instanceof Promise ? outcome : Promise.resolve(outcome)) as Promise<AuthResult<Claims>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  [verifyNow](token: string, options?: VerifyCallOptions): AuthResult | Promise<AuthResult> {
    return this.#verify(token, options);
  }

  #verify(token: string, options: VerifyCallOptions | undefined): AuthResult | Promise<AuthResult> {
    if (typeof token !== "string") throw invalid("ERR_JWT_MALFORMED", "token must be a string");
    if (token.length > this.#maxTokenBytes) {
      throw invalid("ERR_JWT_TOO_LARGE", `token is longer than ${this.#maxTokenBytes} bytes`);
    }
    const call: CallChecks =
      options === undefined
        ? NO_CALL_CHECKS
        : {
            requirement:
              options.requiredScopes === undefined
                ? undefined
                : normalizeRequirement(options.requiredScopes, "requiredScopes"),
            audience: options.audience === undefined ? undefined : toList(options.audience, "audience"),
          };

    const now = this.#now();
    if (this.#introspector?.handles(token)) return this.#verifyByIntrospection(token, call, now);
    // Keyed by the token's last characters (signature bytes): hashing a short key is far cheaper than
    // hashing a whole token, and the entry holds the full token to compare.
    const cacheKey = token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token;
    const found = this.#verified?.get(cacheKey);
    const hit = found !== undefined && found.token === token ? found : undefined;
    if (hit) {
      if (now < hit.expiresAt && hit.version === hit.jwks.version) {
        if (!hit.jwks.fresh) hit.jwks.revalidate();
        this.#checkAge(hit.iat, now);
        if (call.audience) this.#checkAudience(hit.aud, call.audience);
        this.#authorize(hit.result, call.requirement);
        return hit.result;
      }
      this.#verified?.delete(cacheKey);
    }

    const firstDot = token.indexOf(".");
    const secondDot = token.indexOf(".", firstDot + 1);
    if (
      firstDot <= 0 ||
      secondDot <= firstDot + 1 ||
      secondDot === token.length - 1 ||
      token.indexOf(".", secondDot + 1) !== -1
    ) {
      throw invalid("ERR_JWT_MALFORMED", "token is not a JWS in compact serialization");
    }
    const header = this.#header(token.slice(0, firstDot));
    if (this.#requireTyp !== undefined && !typMatches(header.typ, this.#requireTyp)) {
      throw invalid("ERR_JWT_TYP", `token typ must be ${this.#requireTyp}`);
    }
    const claims = parseSegment<JWTPayload>(
      this.#platform.decodeToString(token.slice(firstDot + 1, secondDot)),
      "payload",
    );
    // iss first: keys are never fetched for an issuer that is not configured.
    const issuer = claims.iss;
    if (typeof issuer !== "string" || !this.#issuers.has(issuer)) {
      throw invalid("ERR_JWT_ISSUER", "token issuer is not accepted");
    }
    const signature = token.slice(secondDot + 1);
    if (!isCanonicalBase64Url(signature)) throw invalid("ERR_JWT_SIGNATURE", "token signature is not valid");
    const parsed: ParsedToken = {
      token,
      signingInput: token.slice(0, secondDot),
      signature,
      header,
      claims,
      issuer,
      now,
    };

    const jwks = this.#sharedJwks ?? this.#jwksByIssuer.get(issuer);
    const key = jwks?.cachedKey(header.alg, header.kid);
    if (jwks === undefined || key === undefined) return this.#verifyWithFetchedKey(parsed, call);
    const valid = this.#platform.verify(header.alg, key, parsed.signingInput, signature);
    if (valid instanceof Promise)
      return valid.then((ok) => this.#accept(ok, parsed, jwks, jwks.version, call));
    return this.#accept(valid, parsed, jwks, jwks.version, call);
  }

  /** RFC 7662: the authorization server says whether the token is active; the same checks follow. */
  async #verifyByIntrospection(token: string, call: CallChecks, now: number): Promise<AuthResult> {
    const introspector = this.#introspector as Introspector;
    const claims = await introspector.introspect(token, await this.#introspectionEndpointUrl());
    if (claims.iss !== undefined && (typeof claims.iss !== "string" || !this.#issuers.has(claims.iss))) {
      throw invalid("ERR_JWT_ISSUER", "token issuer is not accepted");
    }
    if (claims.exp !== undefined) this.#checkTimes(claims, now);
    // Opaque tokens often carry no aud in their introspection answer: checked when present.
    const audience = claims[this.#audienceClaim];
    if (audience !== undefined) this.#checkAudience(audience, call.audience ?? this.#audiences);
    const result = this.#result(
      { ...claims },
      NO_HEADER,
      typeof claims.iss === "string" ? claims.iss : ([...this.#issuers][0] as string),
      typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY,
    );
    this.#authorize(result, call.requirement);
    return result;
  }

  #introspectionEndpointUrl(): Promise<string> {
    if (this.#introspectionEndpoint) return this.#introspectionEndpoint;
    const issuer = [...this.#issuers][0] as string;
    const pending = discover(issuer, {
      fetch: this.#fetch,
      timeoutMs: this.#jwksSettings.timeoutMs,
      allowInsecureHttp: this.#allowInsecureHttp,
    }).then(
      (metadata) => {
        if (typeof metadata.introspection_endpoint !== "string") {
          throw new VerifierUnavailableError(`${issuer} publishes no introspection_endpoint`);
        }
        return metadata.introspection_endpoint;
      },
      (cause: Error) => {
        throw new VerifierUnavailableError(
          `introspection endpoint of ${issuer} unavailable: ${cause.message}`,
          { cause },
        );
      },
    );
    this.#introspectionEndpoint = pending;
    // A failed discovery is not kept: the next token tries again.
    pending.catch(() => {
      if (this.#introspectionEndpoint === pending) this.#introspectionEndpoint = undefined;
    });
    return pending;
  }

  async #verifyWithFetchedKey(parsed: ParsedToken, call: CallChecks): Promise<AuthResult> {
    const jwks = this.#sharedJwks ?? (await this.#jwksFor(parsed.issuer));
    const version = jwks.version;
    const key = await jwks.getKey(parsed.header.alg, parsed.header.kid);
    const valid = await this.#platform.verify(parsed.header.alg, key, parsed.signingInput, parsed.signature);
    return this.#accept(valid, parsed, jwks, version, call);
  }

  /** After the signature: time claims, audience, then the result (cached) and authorization. */
  #accept(
    valid: boolean,
    parsed: ParsedToken,
    jwks: RemoteJwks<AnyKey>,
    version: number,
    call: CallChecks,
  ): AuthResult {
    if (!valid) throw invalid("ERR_JWT_SIGNATURE", "token signature is not valid");
    const { claims, header, issuer } = parsed;
    const expiresAt = this.#checkTimes(claims, parsed.now);
    this.#checkAudience(claims[this.#audienceClaim], call.audience ?? this.#audiences);
    const result = this.#result(claims, header.raw, issuer, expiresAt);
    if (this.#verified && version === jwks.version && this.#seenBefore(parsed.signature)) {
      const token = parsed.token;
      this.#verified.set(token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token, {
        token,
        result,
        expiresAt,
        iat: claims.iat,
        aud: claims[this.#audienceClaim],
        jwks,
        version,
      });
    }
    this.#authorize(result, call.requirement);
    return result;
  }

  /**
   * Cache admission (a TinyLFU-style doorkeeper): an M2M client sends its token many times, so a token
   * is cached from its second verification on, and one-off tokens never churn the cache. The
   * fingerprint comes from signature characters (uniformly random); a collision only changes when a
   * token is cached, never whether it is valid.
   */
  #seenBefore(signature: string): boolean {
    const end = signature.length - 2;
    let hash = 0;
    for (let i = end; i > end - 6; i--) hash = (hash * 64 + signature.charCodeAt(i)) | 0;
    const slot = hash & (DOORKEEPER_SLOTS - 1);
    const tag = (hash >>> 10) | 1;
    if (this.#doorkeeper[slot] === tag) return true;
    this.#doorkeeper[slot] = tag;
    return false;
  }

  /** The frozen result of a successful check, JWT or introspection alike. */
  #result(
    claims: JWTPayload,
    header: ProtectedHeaderParameters,
    issuer: string,
    expiresAt: number,
  ): AuthResult {
    return Object.freeze({
      claims: Object.freeze(claims),
      header,
      scopes: Object.freeze(scopesFrom(claims, this.#scopeClaims)),
      clientId: clientIdOf(claims),
      subject: typeof claims.sub === "string" ? claims.sub : undefined,
      issuer,
      expiresAt,
    });
  }

  #newJwks(uri: string): RemoteJwks<AnyKey> {
    return new RemoteJwks(uri, this.#jwksSettings, this.#fetch, this.#now, this.#platform);
  }

  #header(segment: string): Header {
    const cached = this.#headers.get(segment);
    if (cached) return cached;
    const raw = parseSegment<ProtectedHeaderParameters>(this.#platform.decodeToString(segment), "header");
    const { alg, kid, typ, crit } = raw;
    if (typeof alg !== "string" || !this.#algorithms.has(alg)) {
      throw invalid("ERR_JWT_ALG_NOT_ALLOWED", "token alg is not allowed");
    }
    // RFC 7515 §4.1.11: m2m-kit understands no extension, so any `crit` is rejected.
    if (crit !== undefined)
      throw invalid("ERR_JWT_CRIT", "token has critical header parameters that are not supported");
    if (kid !== undefined && typeof kid !== "string")
      throw invalid("ERR_JWT_MALFORMED", "token kid is not a string");
    if (typ !== undefined && typeof typ !== "string")
      throw invalid("ERR_JWT_MALFORMED", "token typ is not a string");
    // jku, x5u, x5c and jwk are never used to find a key: only the configured JWKS is trusted.
    const header: Header = { alg, kid, typ, raw: Object.freeze(raw) };
    this.#headers.set(segment, header);
    return header;
  }

  #checkTimes(claims: JWTPayload, now: number): number {
    const { exp, nbf, iat } = claims;
    if (exp === undefined) throw invalid("ERR_JWT_CLAIM_MISSING", "token has no exp claim");
    if (typeof exp !== "number" || !Number.isFinite(exp))
      throw invalid("ERR_JWT_MALFORMED", "token exp is not a number");
    if (exp * 1000 <= now - this.#toleranceMs) throw invalid("ERR_JWT_EXPIRED", "token has expired");
    if (nbf !== undefined) {
      if (typeof nbf !== "number" || !Number.isFinite(nbf))
        throw invalid("ERR_JWT_MALFORMED", "token nbf is not a number");
      if (nbf * 1000 > now + this.#toleranceMs)
        throw invalid("ERR_JWT_NOT_YET_VALID", "token is not valid yet (nbf)");
    }
    if (iat !== undefined) {
      if (typeof iat !== "number" || !Number.isFinite(iat))
        throw invalid("ERR_JWT_MALFORMED", "token iat is not a number");
      if (iat * 1000 > now + this.#toleranceMs)
        throw invalid("ERR_JWT_IAT_IN_FUTURE", "token was issued in the future (iat)");
    }
    this.#checkAge(iat, now);
    return exp * 1000;
  }

  #checkAge(iat: number | undefined, now: number): void {
    if (this.#maxAgeMs === undefined) return;
    if (iat === undefined) throw invalid("ERR_JWT_CLAIM_MISSING", "token has no iat claim");
    if (now - iat * 1000 > this.#maxAgeMs + this.#toleranceMs)
      throw invalid("ERR_JWT_TOO_OLD", "token is too old (iat)");
  }

  #checkAudience(aud: unknown, accepted: readonly string[] | null): void {
    if (accepted === null) return;
    const ok =
      typeof aud === "string"
        ? accepted.includes(aud)
        : Array.isArray(aud) && aud.some((a) => typeof a === "string" && accepted.includes(a));
    if (!ok) throw invalid("ERR_JWT_AUDIENCE", "token audience is not accepted");
  }

  /** Scopes and claim policy: evaluated on every call, cached or not. */
  #authorize(result: AuthResult, call: NormalizedRequirement | undefined): void {
    checkScopes(this.#required, result.scopes);
    checkScopes(call, result.scopes);
    for (const [name, rule] of this.#claims) {
      if (!matchesRule(rule, result.claims[name], result.claims)) throw new ClaimPolicyError(name);
    }
  }

  async #jwksFor(issuer: string): Promise<RemoteJwks<AnyKey>> {
    const known = this.#jwksByIssuer.get(issuer);
    if (known) return known;
    const failed = this.#discoveryFailedAt.get(issuer);
    if (failed && this.#now() - failed.at < this.#jwksSettings.cooldownMs) throw failed.error;
    let pending = this.#discovering.get(issuer);
    if (!pending) {
      pending = this.#discoverJwks(issuer).finally(() => this.#discovering.delete(issuer));
      this.#discovering.set(issuer, pending);
    }
    return pending;
  }

  async #discoverJwks(issuer: string): Promise<RemoteJwks<AnyKey>> {
    try {
      const metadata = await discover(issuer, {
        fetch: this.#fetch,
        timeoutMs: this.#jwksSettings.timeoutMs,
        allowInsecureHttp: this.#allowInsecureHttp,
      });
      if (typeof metadata.jwks_uri !== "string")
        throw new DiscoveryError(`discovery of ${issuer}: no jwks_uri`);
      const jwks = this.#newJwks(metadata.jwks_uri);
      this.#jwksByIssuer.set(issuer, jwks);
      this.#discoveryFailedAt.delete(issuer);
      return jwks;
    } catch (cause) {
      const error = new VerifierUnavailableError(
        `keys of ${issuer} unavailable: ${(cause as Error).message}`,
        { cause },
      );
      this.#discoveryFailedAt.set(issuer, { at: this.#now(), error });
      throw error;
    }
  }
}

/**
 * Base64url decoders ignore the unused low bits of the last character, so several strings decode to
 * the same signature. Only the canonical one is accepted: a token has exactly one valid spelling.
 */
function isCanonicalBase64Url(text: string): boolean {
  switch (text.length % 4) {
    case 0:
      return true;
    case 2:
      return "AQgw".includes(text.charAt(text.length - 1));
    case 3:
      return "AEIMQUYcgkosw048".includes(text.charAt(text.length - 1));
    default:
      return false;
  }
}

/** A decoded JWS segment that must be a JSON object. */
function parseSegment<T>(text: string | undefined, part: "header" | "payload"): T {
  let value: unknown;
  try {
    value = JSON.parse(text as string);
  } catch {
    throw invalid("ERR_JWT_MALFORMED", `token ${part} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("ERR_JWT_MALFORMED", `token ${part} is not a JSON object`);
  }
  return value as T;
}

function clientIdOf(claims: JWTPayload): string | undefined {
  for (const name of ["client_id", "azp", "cid", "appid"]) {
    const value = claims[name];
    if (typeof value === "string") return value;
  }
  return undefined;
}

const shared = new LRUCache<string, Verifier>({ max: 100 });

/**
 * Verifies an access token with a verifier shared per configuration (and so one JWKS cache per
 * configuration). Options with functions (`fetch`, `clock`, claim predicates) get a verifier of their
 * own per call: use `createVerifier` for those.
 *
 * @example
 * ```ts
 * const auth = await verifyAccessToken(token, { issuer, audience: "https://api.example.com", requiredScopes: ["read:data"] });
 * ```
 */
export function verifyAccessToken<Claims extends JWTPayload = JWTPayload>(
  token: string,
  options: VerifierOptions & VerifyCallOptions,
): Promise<AuthResult<Claims>> {
  const { requiredScopes, ...config } = options;
  let key: string | undefined;
  try {
    key = JSON.stringify(config, (_k, v) => {
      if (typeof v === "function") throw new Error("unshareable");
      return v;
    });
  } catch {
    key = undefined;
  }
  let verifier = key === undefined ? undefined : shared.get(key);
  if (!verifier) {
    verifier = createVerifier(config);
    if (key !== undefined) shared.set(key, verifier);
  }
  return verifier.verify<Claims>(token, requiredScopes === undefined ? undefined : { requiredScopes });
}
