import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import { LRUCache } from "lru-cache";
import { platform } from "#platform";
import { createDpopProofVerifier, DPOP_OPTION_NAMES, type DpopProofVerifier } from "../dpop/verify.js";
import { type InvalidTokenCode, InvalidTokenError, M2MError } from "../errors.js";
import { checkPlainUrl, type FetchLike } from "../lib/http.js";
import { type Instrumentation, Instrumentations, instrumentationHook } from "../lib/instrumentation.js";
import { symbolMembers } from "../lib/members.js";
import { checkOptionNames, isOptionsObject, knownOptions } from "../lib/option-names.js";
import { requestScopedIo, type WaitUntil } from "../lib/runtime.js";
import type { Platform } from "../platform/types.js";
import { type AcceptedTokens, accepted, acceptedAudiences } from "./accepted.js";
import { ASYMMETRIC_ALGS } from "./algorithms.js";
import {
  checkAge,
  checkAudience,
  checkClaimPolicies,
  checkTimes,
  clientIdOf,
  issuerNotAccepted,
} from "./claims.js";
import { type CheckedConfirmation, checkBinding, checkConfirmation } from "./confirmation.js";
import { actorOf, checkDelegation } from "./delegation.js";
import { emitTo, type VerifierEvent, type VerifierEventListener } from "./events.js";
import { INTROSPECTION_OPTION_NAMES, Introspector } from "./introspection.js";
import { discoverIntrospectionEndpoint, IssuerKeys } from "./issuer-keys.js";
import { buildIssuerRules, type IssuerConfig, type IssuerRule } from "./issuers.js";
import {
  DEFAULT_JWKS,
  JWKS_OPTION_NAMES,
  JWKS_STORE_OPTIONS,
  type JwksSettings,
  type RemoteJwks,
} from "./jwks.js";
import {
  checkHeader,
  type Header,
  isCanonicalBase64Url,
  parseSegment,
  splitCompact,
  typMatches,
} from "./jws.js";
import { sharedDocumentsFrom } from "./key-value-store.js";
import {
  type AuthResult,
  ISSUER_OPTION_NAMES,
  type JwksState,
  nonNegative,
  toList,
  VERIFIED_TOKEN_CACHE_OPTION_NAMES,
  VERIFIER_OPTION_NAMES,
  VERIFY_CALL_OPTION_NAMES,
  type Verifier,
  type VerifierOptions,
  type VerifyCallOptions,
} from "./options.js";
import { checkScopes, type NormalizedRequirement, normalizeRequirement, scopesFrom } from "./scopes.js";
import { acceptedIssuers, checkTenant, IssuerMatcher } from "./tenants.js";

export type { ClaimRule } from "./claims.js";
export type { Confirmation } from "./confirmation.js";
export type { Actor, AllowedActor, DelegationMode } from "./delegation.js";
export type { VerifierEvent, VerifierEventListener } from "./events.js";
export type {
  AuthResult,
  IssuerOptions,
  IssuerResolver,
  JwksState,
  SharedVerifierOptions,
  Verifier,
  VerifierOptions,
  VerifyCallOptions,
} from "./options.js";
export type { ScopeRequirement } from "./scopes.js";

interface VerifiedEntry {
  /** The whole token: the cache is keyed by its tail, a hit must match it exactly. */
  token: string;
  result: AuthResult;
  /** The issuer's rules the token was verified under. */
  rule: IssuerRule;
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
  /** What the caller checked of a sender-constrained token's request (`undefined`: nothing). */
  confirmation: CheckedConfirmation;
}

/** The names a verify() call takes (one array for every call: this runs per request). */
const CALL_OPTION_LISTS = [VERIFY_CALL_OPTION_NAMES];

const DOORKEEPER_SLOTS = 1024;
const CACHE_KEY_CHARS = 32;

const NO_HEADER: ProtectedHeaderParameters = /* @__PURE__ */ Object.freeze({});

const NO_CALL_CHECKS: CallChecks = /* @__PURE__ */ Object.freeze({
  requirement: undefined,
  audience: undefined,
  confirmation: undefined,
});

interface ParsedToken {
  token: string;
  signingInput: string;
  signature: string;
  header: Header;
  claims: JWTPayload;
  rule: IssuerRule;
  /** The token's tenant under its rule (see `checkTenant`). */
  tenant: string | undefined;
  now: number;
}

/** `dpop` must be an object of known options: a typo or a string must not turn DPoP on unchecked. */
function checkDpopOptions(dpop: unknown, where: string): void {
  if (!isOptionsObject(dpop))
    throw new TypeError("dpop must be an object of DPoP options ({} for the defaults)");
  checkOptionNames(dpop, [DPOP_OPTION_NAMES], where, "dpop.");
  if (dpop.required !== undefined && typeof dpop.required !== "boolean") {
    throw new TypeError("dpop.required must be a boolean");
  }
  if (dpop.algorithms !== undefined && !Array.isArray(dpop.algorithms)) {
    throw new TypeError("dpop.algorithms must be an array");
  }
  for (const name of ["iatToleranceSeconds", "clockToleranceSeconds"]) {
    if (dpop[name] !== undefined && typeof dpop[name] !== "number") {
      throw new TypeError(`dpop.${name} must be a number`);
    }
  }
}

function invalid(code: InvalidTokenCode, message: string): InvalidTokenError {
  return new InvalidTokenError(code, message);
}

/**
 * Creates a verifier of JWT access tokens: signature against the issuer's JWKS (cached), `alg`
 * allowlist, `iss`, `aud`, `exp`, `nbf`, `iat`, optional `typ`, scopes and claim policies.
 * Sender-constrained tokens are never bearer tokens: `verify(token)` refuses a token with `cnf`
 * unless the call's `confirmation` names what was checked (the adapters pass it).
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" });
 * const auth = await verifier.verify(token, { requiredScopes: ["read:data"] });
 * auth.clientId; auth.scopes;
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  return new JwtVerifier(options, platform as Platform<AnyKey>, "createVerifier()");
}

/**
 * {@link createVerifier} for a caller that takes verifier options itself (an adapter,
 * `verifyAccessToken`): its errors name that caller (`where`, e.g. `requireAuth()`).
 */
export function createVerifierFor(options: VerifierOptions, where: string): Verifier {
  return new JwtVerifier(options, platform as Platform<AnyKey>, where);
}

/**
 * Adapters call this instead of `verify` so that a cached token is answered in the same tick (no
 * promise, no microtask): returns the result, or a promise when keys must be fetched; throws on failure.
 */
export const verifyNow: unique symbol = Symbol.for("m2m-kit.verifyNow");

/**
 * How many verifications the verified-token cache answered (successfully): `m2m-kit/otel` reads it
 * around a call to tell a cached answer from a signature check without timing the cached ones.
 */
export const cacheHits: unique symbol = Symbol.for("m2m-kit.verifier.cacheHits");

class JwtVerifier implements Verifier {
  declare [cacheHits]: number;
  readonly dpop: DpopProofVerifier | undefined;
  /** Picks a token's issuer rules (configured issuers, templates' tenants, a resolver's answers). */
  readonly #issuers: IssuerMatcher;
  /** Every audience of every issuer (see {@link AcceptedTokens.audiences}). */
  readonly #audiences: readonly string[] | null | undefined;
  readonly #algorithms: Set<string>;
  readonly #toleranceMs: number;
  readonly #required: NormalizedRequirement | undefined;
  readonly #maxAgeMs: number | undefined;
  readonly #maxTokenBytes: number;
  readonly #jwksSettings: JwksSettings;
  /** `onEvent` and the transport, plus what `m2m-kit/otel` attaches. */
  readonly #instrumentations: Instrumentations<VerifierEvent>;
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
  /** The same-tick verification the adapters call (see `verifyNow`). */
  declare readonly [verifyNow]: (
    token: string,
    options?: VerifyCallOptions,
  ) => AuthResult | Promise<AuthResult>;
  /**
   * Attaches an instrumentation; returns the function that detaches it. The protocol between the
   * verifier and `m2m-kit/otel`: use `instrument(verifier)` from `m2m-kit/otel`.
   *
   * @internal
   */
  declare readonly [instrumentationHook]: (instrumentation: Instrumentation<VerifierEvent>) => () => void;

  constructor(options: VerifierOptions, runtime: Platform<AnyKey>, where: string) {
    // Symbol-keyed members are set on the instance rather than declared as methods: bundlers treat a
    // class with a computed member as a side effect and keep it (and all it uses) in every bundle.
    this[cacheHits] = 0;
    symbolMembers(this, {
      [verifyNow]: (token: string, options?: VerifyCallOptions) => this.#verifyNow(token, options),
      [instrumentationHook]: (instrumentation: Instrumentation<VerifierEvent>) =>
        this.#instrumentations.attach(instrumentation),
      [accepted]: (): AcceptedTokens => this.#accepted(),
    });
    if (typeof options !== "object" || options === null)
      throw new TypeError("verifier options must be an object");
    checkOptionNames(options, [ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES], where);
    // Read as a plain object: an option inherited from a prototype counts as an own one.
    options = knownOptions(options, [ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES]);
    this.#allowInsecureHttp = options.allowInsecureHttp === true;
    const issuerConfig: IssuerConfig = buildIssuerRules(options, this.#allowInsecureHttp, where);
    this.#audiences = acceptedAudiences(issuerConfig);
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
    this.#maxAgeMs =
      options.maxTokenAgeSeconds === undefined
        ? undefined
        : nonNegative(options.maxTokenAgeSeconds, "maxTokenAgeSeconds") * 1000;
    const maxTokenBytes = options.maxTokenBytes ?? 16_384;
    if (!Number.isSafeInteger(maxTokenBytes) || maxTokenBytes <= 0) {
      throw new TypeError("maxTokenBytes must be a positive integer");
    }
    this.#maxTokenBytes = maxTokenBytes;
    if (options.jwks !== undefined && (typeof options.jwks !== "object" || options.jwks === null)) {
      throw new TypeError("jwks must be an object of JWKS cache settings");
    }
    checkOptionNames(options.jwks, [JWKS_OPTION_NAMES], where, "jwks.");
    this.#jwksSettings = { ...DEFAULT_JWKS };
    for (const [name, value] of Object.entries(knownOptions(options.jwks ?? {}, [JWKS_OPTION_NAMES]))) {
      if ((JWKS_STORE_OPTIONS as readonly string[]).includes(name)) continue;
      this.#jwksSettings[name as keyof JwksSettings] = nonNegative(value, `jwks.${name}`);
    }
    if (options.fetch !== undefined && typeof options.fetch !== "function")
      throw new TypeError("fetch must be a function");
    const baseFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
    const clock = options.clock;
    if (clock !== undefined && typeof clock?.now !== "function")
      throw new TypeError("clock must have a now() method");
    this.#now = clock ? () => clock.now() : Date.now;
    this.#issuers = new IssuerMatcher(issuerConfig, this.#now, this.#allowInsecureHttp);
    symbolMembers(this, { [acceptedIssuers]: this.#issuers.accepted });
    if (options.dpop !== undefined) checkDpopOptions(options.dpop, where);
    this.dpop =
      options.dpop === undefined ? undefined : createDpopProofVerifier(options.dpop, { now: this.#now });
    if (options.onEvent !== undefined && typeof options.onEvent !== "function")
      throw new TypeError("onEvent must be a function");
    this.#instrumentations = new Instrumentations<VerifierEvent>(options.onEvent, baseFetch);
    const { dispatch, emit } = this.#instrumentations;
    const run = this.#instrumentations.run.bind(this.#instrumentations);
    this.#platform = runtime;
    const shared = sharedDocumentsFrom(options.jwks ?? {}, this.#now, emit);
    this.#keys = new IssuerKeys({
      rules: this.#issuers.configured,
      settings: this.#jwksSettings,
      fetch: dispatch,
      run,
      now: this.#now,
      platform: runtime,
      allowInsecureHttp: this.#allowInsecureHttp,
      onEvent: emit,
      shared,
    });
    if (options.introspection !== undefined) {
      if (typeof options.introspection !== "object" || options.introspection === null) {
        throw new TypeError("introspection must be an object");
      }
      checkOptionNames(options.introspection, [INTROSPECTION_OPTION_NAMES], where, "introspection.");
      // Read once, here: the introspector keeps what it was given.
      const introspection = knownOptions(options.introspection, [INTROSPECTION_OPTION_NAMES]);
      const { endpoint } = introspection;
      if (endpoint !== undefined) {
        this.#introspectionEndpoint = Promise.resolve(
          checkPlainUrl(endpoint, "introspection.endpoint", this.#allowInsecureHttp).href,
        );
      } else if (this.#issuers.single === undefined) {
        throw new TypeError("introspection.endpoint is required with several issuers");
      }
      this.#introspector = new Introspector(
        introspection,
        dispatch,
        this.#now,
        this.#jwksSettings.timeoutMs,
        emit,
        run,
      );
    }
    const cache = options.verifiedTokenCache;
    if (cache !== undefined && cache !== false) {
      if (!isOptionsObject(cache)) throw new TypeError("verifiedTokenCache must be { maxEntries } or false");
      checkOptionNames(cache, [VERIFIED_TOKEN_CACHE_OPTION_NAMES], where, "verifiedTokenCache.");
    }
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

  #accepted(): AcceptedTokens {
    const { kind, issuers } = this.#issuers.accepted;
    return {
      issuers: kind === "fixed" ? issuers : undefined,
      audiences: this.#audiences,
      requiredScopes: this.#required?.scopes ?? [],
    };
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
      const outcome = this[verifyNow](token, options);
      return (outcome instanceof Promise ? outcome : Promise.resolve(outcome)) as Promise<AuthResult<Claims>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #verifyNow(token: string, options?: VerifyCallOptions): AuthResult | Promise<AuthResult> {
    if (this.#onEvent === undefined) return this.#verify(token, options);
    try {
      const outcome = this.#verify(token, options);
      if (outcome instanceof Promise) {
        return outcome.catch((error: unknown) => {
          this.#failed(error, token);
          throw error;
        });
      }
      return outcome;
    } catch (error) {
      this.#failed(error, token);
      throw error;
    }
  }

  get #fetch(): FetchLike {
    return this.#instrumentations.fetch;
  }

  get #onEvent(): VerifierEventListener | undefined {
    return this.#instrumentations.listener;
  }

  #failed(error: unknown, token: string): void {
    if (!(error instanceof M2MError)) return;
    const issuer = this.#listedIssuer(token);
    emitTo(this.#onEvent, {
      type: "verification_failed",
      code: error.code,
      ...(issuer !== undefined && { issuer }),
      error,
    });
  }

  /** The `iss` of a refused token when it is readable and one of the configured issuers. */
  #listedIssuer(token: string): string | undefined {
    if (typeof token !== "string" || token.length > this.#maxTokenBytes) return undefined;
    try {
      const [firstDot, secondDot] = splitCompact(token);
      const { iss } = parseSegment<JWTPayload>(
        this.#platform.decodeToString(token.slice(firstDot + 1, secondDot)),
        "payload",
      );
      return this.#issuers.listed(iss) ? (iss as string) : undefined;
    } catch {
      return undefined;
    }
  }

  #callChecks(options: VerifyCallOptions | undefined): CallChecks {
    if (options === undefined) return NO_CALL_CHECKS;
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        "verify options must be an object ({ requiredScopes, audience, confirmation }) or undefined",
      );
    }
    checkOptionNames(options, CALL_OPTION_LISTS, "verify()");
    return {
      requirement:
        options.requiredScopes === undefined
          ? undefined
          : normalizeRequirement(options.requiredScopes, "requiredScopes"),
      audience: options.audience === undefined ? undefined : toList(options.audience, "audience"),
      confirmation: checkConfirmation(options.confirmation),
    };
  }

  #verify(token: string, options: VerifyCallOptions | undefined): AuthResult | Promise<AuthResult> {
    const call = this.#callChecks(options);
    if (typeof token !== "string") throw invalid("ERR_JWT_MALFORMED", "token must be a string");
    if (token.length > this.#maxTokenBytes) {
      throw invalid("ERR_JWT_TOO_LARGE", `token is longer than ${this.#maxTokenBytes} bytes`);
    }

    const now = this.#now();
    if (this.#introspector?.handles(token)) return this.#verifyByIntrospection(token, call, now);
    // Keyed by the token's last characters (signature bytes): hashing a short key is far cheaper than
    // hashing a whole token, and the entry holds the full token to compare.
    const cacheKey = token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token;
    const found = this.#verified?.get(cacheKey);
    const hit = found !== undefined && found.token === token ? found : undefined;
    if (hit) {
      if (now < hit.expiresAt && hit.version === hit.jwks.version && this.#issuers.holds(hit.rule)) {
        if (!hit.jwks.fresh) {
          // On Workers without waitUntil the refresh runs in this call; then verify again.
          const refreshed = hit.jwks.revalidate(options?.waitUntil);
          if (refreshed) return refreshed.then(() => this.#verify(token, options));
        }
        // What the signature proved is cached; every check that depends on the configuration or on
        // this call runs again, exactly as on a miss (a hit never accepts what a miss refuses).
        checkAge(hit.iat, now, this.#toleranceMs, this.#maxAgeMs);
        checkAudience(hit.aud, call.audience ?? hit.rule.audiences);
        this.#authorize(hit.result, hit.rule, call);
        this[cacheHits]++;
        return hit.result;
      }
      this.#verified?.delete(cacheKey);
    }

    const [firstDot, secondDot] = splitCompact(token);
    const header = this.#header(token.slice(0, firstDot));
    const claims = parseSegment<JWTPayload>(
      this.#platform.decodeToString(token.slice(firstDot + 1, secondDot)),
      "payload",
    );
    // iss first: it selects the rules, and keys are never fetched for an issuer that is not configured.
    const rule = this.#issuers.match(claims.iss);
    if (rule instanceof Promise) {
      return rule.then((resolved) =>
        this.#verifyUnder(resolved, token, secondDot, header, claims, now, call, options),
      );
    }
    return this.#verifyUnder(rule, token, secondDot, header, claims, now, call, options);
  }

  /** The checks after the issuer's rule is known: `typ`, tenant, then the signature. */
  #verifyUnder(
    rule: IssuerRule | undefined,
    token: string,
    secondDot: number,
    header: Header,
    claims: JWTPayload,
    now: number,
    call: CallChecks,
    options: VerifyCallOptions | undefined,
  ): AuthResult | Promise<AuthResult> {
    if (rule === undefined) throw issuerNotAccepted(claims.iss, this.#issuers.accepted.issuers);
    const tenant = checkTenant(rule, claims);
    if (rule.requireTyp !== undefined && !typMatches(header.typ, rule.requireTyp)) {
      throw invalid("ERR_JWT_TYP", `token typ must be ${rule.requireTyp}`);
    }
    const signature = token.slice(secondDot + 1);
    if (!isCanonicalBase64Url(signature)) throw invalid("ERR_JWT_SIGNATURE", "token signature is not valid");
    const parsed: ParsedToken = {
      token,
      signingInput: token.slice(0, secondDot),
      signature,
      header,
      claims,
      rule,
      tenant,
      now,
    };

    const jwks = this.#keys.known(rule);
    const keys = jwks?.cachedKeys(header.alg, header.kid);
    if (jwks === undefined || keys === undefined)
      return this.#verifyWithFetchedKey(parsed, call, options?.waitUntil);
    const version = jwks.version;
    const valid = this.#checkSignature(keys, parsed);
    if (valid instanceof Promise) {
      return valid.then((ok) =>
        !ok && header.kid === undefined
          ? this.#verifyWithFetchedKey(parsed, call, options?.waitUntil)
          : this.#accept(ok, parsed, jwks, version, call),
      );
    }
    // A token without kid that no cached key verifies may be signed with a key published since.
    if (!valid && header.kid === undefined)
      return this.#verifyWithFetchedKey(parsed, call, options?.waitUntil);
    return this.#accept(valid, parsed, jwks, version, call);
  }

  /** The signature against each candidate key in turn (one with a `kid`; a few without). */
  #checkSignature(keys: readonly AnyKey[], parsed: ParsedToken): boolean | Promise<boolean> {
    const { alg } = parsed.header;
    const from = (i: number): boolean | Promise<boolean> => {
      for (; i < keys.length; i++) {
        const ok = this.#platform.verify(alg, keys[i], parsed.signingInput, parsed.signature);
        if (ok instanceof Promise) {
          const next = i + 1;
          return ok.then((valid) => valid || from(next));
        }
        if (ok) return true;
      }
      return false;
    };
    return from(0);
  }

  /** RFC 7662: the authorization server says whether the token is active; the same checks follow. */
  async #verifyByIntrospection(token: string, call: CallChecks, now: number): Promise<AuthResult> {
    const introspector = this.#introspector as Introspector;
    const claims = await introspector.introspect(token, await this.#introspectionEndpointUrl());
    const rule = claims.iss === undefined ? this.#issuers.single : await this.#issuers.match(claims.iss);
    if (rule === undefined) throw issuerNotAccepted(claims.iss, this.#issuers.accepted.issuers);
    const tenant = checkTenant(rule, claims);
    if (claims.exp !== undefined) checkTimes(claims, now, this.#toleranceMs, this.#maxAgeMs);
    // RFC 9700 §2.3: the API must know that the token is meant for it. An answer without an
    // audience passes only where the configuration says the server never sends one.
    const audience = claims[rule.audienceClaim];
    const accepted = call.audience ?? rule.audiences;
    if (audience !== undefined) checkAudience(audience, accepted);
    else if (accepted !== null && introspector.requireAudience) {
      throw invalid(
        "ERR_JWT_AUDIENCE",
        `the introspection answer has no ${rule.audienceClaim}: the token may be meant for another API (introspection.requireAudience)`,
      );
    }
    const result = this.#result(
      { ...claims },
      NO_HEADER,
      rule,
      tenant,
      typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY,
    );
    this.#authorize(result, rule, call);
    return result;
  }

  #introspectionEndpointUrl(): Promise<string> {
    if (this.#introspectionEndpoint) return this.#introspectionEndpoint;
    const issuer = (this.#issuers.single as IssuerRule).issuer;
    const pending = discoverIntrospectionEndpoint(issuer, {
      fetch: this.#fetch,
      timeoutMs: this.#jwksSettings.timeoutMs,
      allowInsecureHttp: this.#allowInsecureHttp,
    });
    // A failed discovery is not kept: the next token tries again. On Workers only the answer is
    // kept, never the request in flight (lib/runtime.ts).
    if (!requestScopedIo) this.#introspectionEndpoint = pending;
    pending.then(
      (url) => {
        if (requestScopedIo) this.#introspectionEndpoint ??= Promise.resolve(url);
      },
      () => {
        if (this.#introspectionEndpoint === pending) this.#introspectionEndpoint = undefined;
      },
    );
    return pending;
  }

  async #verifyWithFetchedKey(
    parsed: ParsedToken,
    call: CallChecks,
    waitUntil: WaitUntil | undefined,
  ): Promise<AuthResult> {
    const { alg, kid } = parsed.header;
    const jwks = this.#keys.known(parsed.rule) ?? (await this.#keys.forRule(parsed.rule, waitUntil));
    let version = jwks.version;
    let valid = await this.#checkSignature(await jwks.getKeys(alg, kid, waitUntil), parsed);
    // Without kid, a new key can only be told by trying it: the same refetch rules as an unknown kid.
    if (!valid && kid === undefined && (await jwks.refetchForMissingKey(version, waitUntil))) {
      version = jwks.version;
      valid = await this.#checkSignature(await jwks.getKeys(alg, kid, waitUntil), parsed);
    }
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
    const { claims, header, rule } = parsed;
    if (rule.keyCache === "open") this.#keys.verified(rule, jwks);
    const expiresAt = checkTimes(claims, parsed.now, this.#toleranceMs, this.#maxAgeMs);
    checkAudience(claims[rule.audienceClaim], call.audience ?? rule.audiences);
    const result = this.#result(claims, header.raw, rule, parsed.tenant, expiresAt);
    if (this.#verified && version === jwks.version && this.#seenBefore(parsed.signature)) {
      const token = parsed.token;
      this.#verified.set(token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token, {
        token,
        result,
        rule,
        expiresAt,
        iat: claims.iat,
        aud: claims[rule.audienceClaim],
        jwks,
        version,
      });
    }
    this.#authorize(result, rule, call);
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
    rule: IssuerRule,
    tenant: string | undefined,
    expiresAt: number,
  ): AuthResult {
    const actor = actorOf(claims);
    return Object.freeze({
      claims: Object.freeze(claims),
      header,
      scopes: Object.freeze(scopesFrom(claims, rule.scopeSources)),
      clientId: clientIdOf(claims),
      subject: typeof claims.sub === "string" ? claims.sub : undefined,
      issuer: typeof claims.iss === "string" ? claims.iss : rule.issuer,
      expiresAt,
      ...(tenant !== undefined && { tenant }),
      ...(actor !== undefined && { actor }),
    });
  }

  #header(segment: string): Header {
    const cached = this.#headers.get(segment);
    if (cached) return cached;
    const header = checkHeader(this.#platform.decodeToString(segment), this.#algorithms);
    this.#headers.set(segment, header);
    return header;
  }

  /**
   * The binding of a sender-constrained token (a 401 before any 403), scopes and claim policies:
   * evaluated on every call, cached or not.
   */
  #authorize(result: AuthResult, rule: IssuerRule, call: CallChecks): void {
    checkBinding(result.claims, call.confirmation, this.dpop !== undefined);
    checkScopes(this.#required, result.scopes);
    checkScopes(call.requirement, result.scopes);
    checkClaimPolicies(rule.claims, result.claims);
    checkDelegation(rule.delegation, result.actor, result.issuer);
  }
}
