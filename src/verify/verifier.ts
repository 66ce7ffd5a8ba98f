import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import { LRUCache } from "lru-cache";
import { platform } from "#platform";
import { type InvalidTokenCode, InvalidTokenError } from "../errors.js";
import { checkUrl, type FetchLike } from "../lib/http.js";
import { type Instrumentation, Instrumentations, instrumentationHook } from "../lib/instrumentation.js";
import type { Platform } from "../platform/types.js";
import { PROVIDER_NAMES, tenantIssuers, VERIFIER_PRESETS } from "../providers.js";
import { ASYMMETRIC_ALGS } from "./algorithms.js";
import {
  type ClaimRule,
  checkAge,
  checkAudience,
  checkClaimPolicies,
  checkTimes,
  clientIdOf,
} from "./claims.js";
import { Introspector } from "./introspection.js";
import { discoverIntrospectionEndpoint, IssuerKeys } from "./issuers.js";
import { DEFAULT_JWKS, type JwksSettings, type RemoteJwks } from "./jwks.js";
import {
  checkHeader,
  type Header,
  isCanonicalBase64Url,
  parseSegment,
  splitCompact,
  typMatches,
} from "./jws.js";
import {
  type AuthResult,
  type JwksState,
  nonNegative,
  toList,
  type Verifier,
  type VerifierOptions,
  type VerifyCallOptions,
} from "./options.js";
import {
  checkScopes,
  DEFAULT_SCOPE_CLAIMS,
  type NormalizedRequirement,
  normalizeRequirement,
  scopesFrom,
} from "./scopes.js";

export type { ClaimRule } from "./claims.js";
export type { AuthResult, JwksState, Verifier, VerifierOptions, VerifyCallOptions } from "./options.js";
export type { ScopeRequirement } from "./scopes.js";

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

function invalid(code: InvalidTokenCode, message: string): InvalidTokenError {
  return new InvalidTokenError(code, message);
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

/** Until the verifier reports events of its own, instrumentations receive none. */
type VerifierEventLike = { type: string };

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
  /** The transport (and `onEvent`), plus what `m2m-kit/otel` attaches. */
  readonly #instrumentations: Instrumentations<VerifierEventLike>;
  readonly #now: () => number;
  readonly #allowInsecureHttp: boolean;
  readonly #platform: Platform<AnyKey>;
  readonly #keys: IssuerKeys<AnyKey>;
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
    this.#instrumentations = new Instrumentations<VerifierEventLike>(
      undefined,
      options.fetch ?? ((input, init) => fetch(input, init)),
    );
    const run = this.#instrumentations.run.bind(this.#instrumentations);
    const clock = options.clock;
    this.#now = clock ? () => clock.now() : Date.now;
    this.#platform = runtime;
    for (const issuer of this.#issuers) checkUrl(issuer, "issuer", this.#allowInsecureHttp);
    this.#keys = new IssuerKeys({
      issuers: this.#issuers,
      jwksUri:
        options.jwksUri === undefined
          ? undefined
          : checkUrl(options.jwksUri, "jwksUri", this.#allowInsecureHttp).href,
      settings: this.#jwksSettings,
      fetch: this.#instrumentations.dispatch,
      run,
      now: this.#now,
      platform: runtime,
      allowInsecureHttp: this.#allowInsecureHttp,
    });
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
        this.#instrumentations.dispatch,
        this.#now,
        this.#jwksSettings.timeoutMs,
        run,
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
    return this.#keys.all;
  }

  warmUp(): Promise<void> {
    return this.#keys.warmUp();
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

  /** Attaches an instrumentation (`m2m-kit/otel`); returns the function that detaches it. */
  [instrumentationHook](instrumentation: Instrumentation<VerifierEventLike>): () => void {
    return this.#instrumentations.attach(instrumentation);
  }

  get #fetch(): FetchLike {
    return this.#instrumentations.fetch;
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
        checkAge(hit.iat, now, this.#toleranceMs, this.#maxAgeMs);
        if (call.audience) checkAudience(hit.aud, call.audience);
        this.#authorize(hit.result, call.requirement);
        return hit.result;
      }
      this.#verified?.delete(cacheKey);
    }

    const [firstDot, secondDot] = splitCompact(token);
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

    const jwks = this.#keys.known(issuer);
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
    if (claims.exp !== undefined) checkTimes(claims, now, this.#toleranceMs, this.#maxAgeMs);
    // Opaque tokens often carry no aud in their introspection answer: checked when present.
    const audience = claims[this.#audienceClaim];
    if (audience !== undefined) checkAudience(audience, call.audience ?? this.#audiences);
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
    const pending = discoverIntrospectionEndpoint(issuer, {
      fetch: this.#fetch,
      timeoutMs: this.#jwksSettings.timeoutMs,
      allowInsecureHttp: this.#allowInsecureHttp,
    });
    this.#introspectionEndpoint = pending;
    // A failed discovery is not kept: the next token tries again.
    pending.catch(() => {
      if (this.#introspectionEndpoint === pending) this.#introspectionEndpoint = undefined;
    });
    return pending;
  }

  async #verifyWithFetchedKey(parsed: ParsedToken, call: CallChecks): Promise<AuthResult> {
    const jwks = this.#keys.known(parsed.issuer) ?? (await this.#keys.forIssuer(parsed.issuer));
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
    const expiresAt = checkTimes(claims, parsed.now, this.#toleranceMs, this.#maxAgeMs);
    checkAudience(claims[this.#audienceClaim], call.audience ?? this.#audiences);
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

  #header(segment: string): Header {
    const cached = this.#headers.get(segment);
    if (cached) return cached;
    const header = checkHeader(this.#platform.decodeToString(segment), this.#algorithms);
    this.#headers.set(segment, header);
    return header;
  }

  /** Scopes and claim policy: evaluated on every call, cached or not. */
  #authorize(result: AuthResult, call: NormalizedRequirement | undefined): void {
    checkScopes(this.#required, result.scopes);
    checkScopes(call, result.scopes);
    checkClaimPolicies(this.#claims, result.claims);
  }
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
