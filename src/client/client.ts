import { LRUCache } from "lru-cache";
import { ClientAssertionError, ClientClosedError, M2MError, TokenRequestError } from "../errors.js";
import { type Clock, raceAbort, systemClock } from "../lib/clock.js";
import type { FetchLike } from "../lib/http.js";
import { type Instrumentation, Instrumentations, instrumentationHook } from "../lib/instrumentation.js";
import { inspectsAsString, symbolMembers } from "../lib/members.js";
import { checkNearMisses, checkOptionNames } from "../lib/option-names.js";
import { withRetry } from "../lib/retry.js";
import { requestScopedIo } from "../lib/runtime.js";
import { transportInfo } from "../lib/transport.js";
import { type AudienceParam, CLIENT_PRESETS, type ClientPreset, inferProvider } from "../providers.js";
import type { AssertionCredential } from "./assertion-credential.js";
import { CachePartition } from "./cache-partition.js";
import {
  type ClientFetchInit,
  checkCallOptions,
  DPOP_PROOF_OPTION_NAMES,
  type DpopProofOptions,
  type ExchangeTokenOptions,
  FETCH_INIT_NAMES,
  GET_TOKEN_OPTION_NAMES,
  type GetTokenOptions,
  INVALIDATE_OPTION_NAMES,
  type InvalidateOptions,
} from "./call-options.js";
import { DpopSession, isResourceNonceChallenge, isTokenNonceChallenge } from "./dpop.js";
import { EndpointResolver } from "./endpoint.js";
import type { ClientEvent } from "./events.js";
import { FailureCache } from "./failure-cache.js";
import type { Grant } from "./grants/grant.js";
import { oauthHint } from "./grants/hints.js";
import { clientGrant } from "./grants/setup.js";
import { exchangeGrant, TOKEN_EXCHANGE_TOKEN_NAMES } from "./grants/token-exchange.js";
import { withMutualTlsHint } from "./mtls.js";
import { type NormalizedOptions, normalizeOptions } from "./normalize-options.js";
import type { ClientCredentialsClientOptions } from "./options.js";
import { authorizedInit, fetchInitOf, isReplayable } from "./resource-request.js";
import { Abandoned, SingleFlight } from "./single-flight.js";
import { type MaybePromise, MemoryTokenStore } from "./store.js";
import { type KeyedTarget, TargetResolver, type TargetStyle } from "./target.js";
import { AccessToken, type StoredToken } from "./token.js";
import { TokenCache } from "./token-cache.js";
import { buildTokenRequest, credentialsOf, type Endpoint, sendTokenRequest } from "./token-request.js";
import { NOT_APPLICABLE, readTokenResponse, redactor } from "./token-response.js";
import { UnauthorizedPolicy } from "./unauthorized.js";

/** A token and the target (with its cache key) it was obtained for. */
interface Obtained {
  token: AccessToken;
  target: KeyedTarget;
}

/**
 * The assertion read for a request is another workload's than the one the cache key was built for (a
 * file now holds another identity's token): the request is not sent, and the call starts again with
 * the key of the new identity, so that its token is never stored under the old one.
 */
class PartitionChanged extends Error {
  constructor() {
    super("the credential's identity changed; the cache key is built again");
  }
}

/** How a call's target is resolved, and with which grant its token is requested. */
interface CallKind {
  grant: Grant;
  targets: TargetResolver;
}

/**
 * Gets, caches and refreshes access tokens with the OAuth 2.0 client credentials grant
 * (RFC 6749 §4.4), one cache entry per audience and scope set.
 *
 * @example
 * ```ts
 * const client = new ClientCredentialsClient({
 *   issuer: "https://tenant.example.com/",
 *   clientId: process.env.CLIENT_ID,
 *   clientSecret: process.env.CLIENT_SECRET,
 * });
 * const res = await client.fetch("https://api.example.com/data", { audience: "https://api.example.com" });
 * ```
 */
export class ClientCredentialsClient {
  readonly #options: NormalizedOptions;
  readonly #clock: Clock;
  readonly #cache: TokenCache;
  /** `onEvent` and the transport, plus what `m2m-kit/otel` attaches. */
  readonly #instrumentations: Instrumentations<ClientEvent>;
  readonly #preset: ClientPreset | undefined;
  readonly #endpoints: EndpointResolver;
  /** Client credentials or the `grant` option, for `getToken` and `fetch`. */
  readonly #own: CallKind;
  /** RFC 8693 targets (`audience`, `scope`) for `exchangeToken`. */
  readonly #exchangeTargets: TargetResolver;
  readonly #partition: CachePartition;
  /** A client assertion or grant from a source: its identity may change from one request to the next. */
  readonly #sourced: boolean;
  /** The credentials read from sources, whose first read `close` stops. */
  readonly #sources: AssertionCredential[];
  readonly #assertionSource: string | undefined;
  readonly #unauthorized: UnauthorizedPolicy;
  readonly #failures: FailureCache;
  readonly #inflight = new SingleFlight<AccessToken>();
  /** After a failed background refresh, the next one waits (per key) until this time. */
  readonly #refreshPausedUntil: LRUCache<string, number>;
  /** Bumped by `invalidate`; a response to a request older than that is not stored. */
  #generation = 0;
  #closed = false;
  readonly #dpop: DpopSession | undefined;
  /** Only to remove it from text a server sends back (see `redactor`). */
  readonly #secret: string | undefined;
  /**
   * Attaches an instrumentation; returns the function that detaches it. The protocol between the
   * client and `m2m-kit/otel`: use `instrument(client)` from `m2m-kit/otel`.
   *
   * @internal
   */
  declare readonly [instrumentationHook]: (instrumentation: Instrumentation<ClientEvent>) => () => void;

  constructor(options: ClientCredentialsClientOptions) {
    // Symbol-keyed members are set on the instance (see lib/members.ts).
    inspectsAsString(this);
    symbolMembers(this, {
      [instrumentationHook]: (instrumentation: Instrumentation<ClientEvent>) =>
        this.#instrumentations.attach(instrumentation),
    });
    this.#options = normalizeOptions(options);
    this.#instrumentations = new Instrumentations(
      options.onEvent,
      options.fetch ?? ((input, init) => fetch(input, init)),
    );
    this.#clock = options.clock ?? systemClock;
    this.#secret = options.clientSecret;
    this.#dpop = options.dpop ? new DpopSession(options.dpop) : undefined;
    const bound = this.#options.cacheMaxEntries;
    const store = options.store ?? new MemoryTokenStore({ maxEntries: bound });
    this.#cache = new TokenCache(store, this.#options.clientId, {
      maxEntries: bound,
      now: () => this.#clock.now(),
      onFailure: (operation, error) => this.#emit({ type: "store_failed", operation, error }),
      binding: () => {
        const dpop = this.#dpop;
        if (!dpop) return false;
        return dpop.thumbprint === undefined
          ? undefined
          : { thumbprint: dpop.thumbprint, allowBearer: dpop.allowBearer };
      },
      onRefused: (reason) => this.#emit({ type: "stored_token_refused", reason }),
    });
    this.#unauthorized = new UnauthorizedPolicy(this.#options.retryOnUnauthorized, bound);
    this.#failures = new FailureCache(bound);
    this.#refreshPausedUntil = new LRUCache({ max: bound });
    const provider =
      this.#options.provider ??
      inferProvider(new URL(this.#options.issuer ?? this.#options.tokenEndpoint ?? "invalid:"));
    this.#preset = provider ? CLIENT_PRESETS[provider] : undefined;
    const {
      grant,
      key: grantKey,
      subject: grantSubject,
      clientAssertion,
      exchange,
    } = clientGrant(this.#options, this.#clock);
    this.#sourced = clientAssertion !== undefined || grantSubject !== undefined;
    this.#sources = [clientAssertion, grantSubject].filter((source) => source !== undefined);
    this.#assertionSource = this.#options.clientAssertion?.description;
    const defaults = { audience: this.#options.defaultAudience, scope: this.#options.defaultScope };
    const style: TargetStyle = {
      audienceParam: this.audienceParam,
      // An explicit audienceParam replaces the preset's translation.
      scopeTarget: this.#options.audienceParam === undefined ? this.#preset?.scopeTarget : undefined,
    };
    // RFC 8693 §2.1 names the target `audience` (and `resource`); the preset's translation is for its
    // client credentials requests.
    const exchangeStyle: TargetStyle = {
      audienceParam: this.#options.audienceParam ?? "audience",
      scopeTarget: undefined,
    };
    this.#exchangeTargets = new TargetResolver(this.#options.clientId, defaults, exchangeStyle);
    this.#own = {
      grant,
      targets: exchange ? this.#exchangeTargets : new TargetResolver(this.#options.clientId, defaults, style),
    };
    this.#partition = new CachePartition({
      grant: grantKey,
      grantSubject,
      extraParams: this.#options.extraParams,
      style: exchange ? exchangeStyle : style,
      credential: {
        secret: options.clientSecret,
        privateKey: options.privateKey,
        privateKeyAlg: options.privateKeyAlg,
        clientCertificate: transportInfo(options.fetch)?.clientCertificate,
        assertion: clientAssertion,
      },
      salt: `${this.#options.issuer ?? this.#options.tokenEndpoint}\n${this.#options.clientId}`,
      store,
    });
    this.#endpoints = new EndpointResolver({
      options: this.#options,
      credentials: {
        secret: options.clientSecret,
        privateKey: options.privateKey,
        privateKeyAlg: options.privateKeyAlg,
        keyId: options.keyId,
        assertion: clientAssertion,
      },
      preset: this.#preset,
      fetch: this.#instrumentations.dispatch,
      clock: this.#clock,
      emit: (event) => this.#emit(event),
      run: (operation, work) => this.#instrumentations.run(operation, work),
    });
  }

  /** The client id this client authenticates as. */
  get clientId(): string {
    return this.#options.clientId;
  }

  get #onEvent(): ((event: ClientEvent) => void) | undefined {
    return this.#instrumentations.listener;
  }

  get #fetch(): FetchLike {
    return this.#instrumentations.fetch;
  }

  /** How the target API is sent in token requests. */
  get audienceParam(): AudienceParam {
    return this.#options.audienceParam ?? this.#preset?.audienceParam ?? "resource";
  }

  /**
   * Returns a valid access token for the audience and scopes, from cache when it can.
   * Concurrent callers for the same key share one request. Never returns an expired token.
   *
   * @throws OAuthError, TokenRequestError, DiscoveryError, ClientClosedError; `signal.reason` when the
   *   caller's signal aborts; TypeError for bad options (e.g. an Entra scope list beside an audience).
   */
  async getToken(options: GetTokenOptions = {}): Promise<AccessToken> {
    return (await this.#obtain(options, this.#own)).token;
  }

  /**
   * RFC 8693 token exchange: a token for `audience` and `scope` on behalf of `subjectToken` (the access
   * token your API received, an ID token, …), with `actorToken` for delegation (the issued token's
   * `act` claim). Cached like `getToken` (single flight, refresh ahead, shared store, DPoP), keyed by a
   * hash of the subject and actor tokens and their types; a cached token never outlives the subject
   * token's `exp` (an opaque subject: the answer's `expires_in`). An answer with `token_type: N_A` (not
   * an access token, RFC 8693 §2.2.1) is accepted; `issuedTokenType` says what was issued.
   *
   * @throws TypeError for bad options (`actorToken` without `actorTokenType`); `ClientAssertionError`
   *   (`ERR_CLIENT_ASSERTION`) for a subject or actor token that has expired, without a request;
   *   `OAuthError` (`invalid_grant`, `unsupported_grant_type`, `invalid_target` with a hint of what to
   *   check), `TokenRequestError`, `DiscoveryError`, `ClientClosedError`.
   * @example
   * ```ts
   * const downstream = await client.exchangeToken({
   *   subjectToken: incomingAccessToken,
   *   audience: "https://orders.example.com",
   *   scope: ["read:orders"],
   * });
   * ```
   */
  async exchangeToken(options: ExchangeTokenOptions): Promise<AccessToken> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("exchangeToken options must be an object ({ subjectToken, audience, scope, … })");
    }
    checkOptionNames(options, [GET_TOKEN_OPTION_NAMES, TOKEN_EXCHANGE_TOKEN_NAMES], "exchangeToken()");
    const { subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType, ...call } =
      options;
    this.#assertOpen();
    const grant = await exchangeGrant(
      { subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType },
      () => this.#clock.now(),
    );
    return (await this.#obtain(call, { grant, targets: this.#exchangeTargets })).token;
  }

  /**
   * `rejected`: an access token the API refused (the 401 path); it is never the answer, from this
   * process's cache or from a shared store.
   */
  async #obtain(
    options: GetTokenOptions,
    kind: CallKind,
    rejected?: string,
    again = false,
  ): Promise<Obtained> {
    try {
      return await this.#obtainOnce(options, kind, rejected);
    } catch (error) {
      // Once: a second change in the same call is left to the next call.
      if (error instanceof PartitionChanged && !again) return this.#obtain(options, kind, rejected, true);
      if (error instanceof PartitionChanged) {
        throw new TokenRequestError(
          "the credential read from its source changed identity twice during one call",
          {
            transient: true,
          },
        );
      }
      throw error;
    }
  }

  async #obtainOnce(
    options: GetTokenOptions,
    kind: CallKind,
    rejected: string | undefined,
  ): Promise<Obtained> {
    checkCallOptions(options);
    this.#assertOpen();
    const { grant, targets } = kind;
    const known = this.#endpoints.current;
    if (!known) targets.check(options);
    const endpoint = known ?? (await raceAbort(this.#endpoints.discover(), options.signal));
    // The first call reads the credential's source to learn whose it is: the caller may give up.
    const partition = await raceAbort(this.#keyPartition(endpoint, grant), options.signal);
    const target = targets.resolve(options, endpoint.url, partition);
    const key = target.key;
    if (!options.forceRefresh) {
      const found = this.#cache.get(key);
      const stored = found instanceof Promise ? await found : found;
      const now = this.#clock.now();
      if (stored && now < stored.expiresAt && stored.accessToken !== rejected) {
        if (now >= stored.refreshAt && !this.#inflight.has(key)) {
          const refresh = this.#refreshInBackground(endpoint, target, grant, stored, now);
          if (refresh && options.waitUntil) options.waitUntil(refresh);
          else if (refresh && requestScopedIo) {
            const fresh = await raceAbort(refresh, options.signal);
            if (fresh) return { token: fresh, target };
          }
        }
        if (this.#onEvent)
          this.#emit({
            type: "cache_hit",
            audience: target.audience,
            scope: target.scope,
            expiresAt: stored.expiresAt,
          });
        return { token: new AccessToken(stored), target };
      }
    }
    const failed = this.#failures.get(key, this.#clock.now());
    if (failed && !this.#inflight.has(key)) throw failed;
    if (this.#onEvent) this.#emit({ type: "cache_miss", audience: target.audience, scope: target.scope });
    // forceRefresh: a token waited for through a shared store must be newer than the one there now.
    const previous = options.forceRefresh && this.#cache.lease ? await this.#cache.get(key) : undefined;
    const token = await this.#inflight.run(
      key,
      (signal) => this.#obtainShared(endpoint, target, grant, false, { previous, rejected }, signal),
      { signal: options.signal },
    );
    return { token, target };
  }

  /**
   * `fetch` with `Authorization: <type> <token>`. The first 401 from the API for a token, however
   * young, replaces it once: the refused token leaves the cache (a shared store's entry only while it
   * still holds it), a newer token another process wrote is used without a token request, else one is
   * fetched, and the request is sent once more (see `retryOnUnauthorized`). When the replacement is
   * refused too, that 401 is returned and the key backs off: no token storm.
   */
  async fetch(input: string | URL | Request, init: ClientFetchInit = {}): Promise<Response> {
    checkNearMisses(init, FETCH_INIT_NAMES, "client.fetch() init");
    const { audience, scope, waitUntil } = init;
    const requestInit = fetchInitOf(init, FETCH_INIT_NAMES);
    const tokenOptions: GetTokenOptions = { audience, scope, waitUntil };
    if (requestInit.signal) tokenOptions.signal = requestInit.signal;
    const replayable = isReplayable(requestInit);
    // Each send needs the body again: keep a clone per possible resend (nonce challenge, 401).
    const copies = input instanceof Request && input.body !== null ? [input.clone(), input.clone()] : [];
    const nextInput = () => copies.shift() ?? input;
    const first = await this.#obtain(tokenOptions, this.#own);
    let response = await this.#send(input, requestInit, first.token);
    if (this.#dpop && first.token.tokenType === "DPoP" && replayable && isResourceNonceChallenge(response)) {
      // RFC 9449 §9: the resource server wants its nonce in the proof; answer once.
      await response.body?.cancel();
      response = await this.#send(nextInput(), requestInit, first.token);
    }
    const key = first.target.key;
    if (response.status !== 401) {
      this.#unauthorized.accepted(key);
      return response;
    }
    const method = requestInit.method ?? (input instanceof Request ? input.method : "GET");
    const decision = this.#unauthorized.decide(
      key,
      { method, replayable, replacement: false },
      this.#clock.now(),
    );
    if (decision.action === "return") {
      this.#emitUnauthorized(first.target, "returned", decision.reason, decision.backoffMs);
      return response;
    }
    await response.body?.cancel();
    const refused = first.token.accessToken;
    // Another caller, or another process of the fleet, may already have written the replacement.
    await this.#cache.deleteIfHolds(key, refused);
    this.#emitUnauthorized(first.target, "token_replaced", undefined, undefined);
    const next = await this.#obtain(tokenOptions, this.#own, refused);
    const second = await this.#send(nextInput(), requestInit, next.token);
    if (second.status === 401) {
      // The replacement is refused too: a new token would be refused as well. Keep it; back off.
      const again = this.#unauthorized.decide(
        key,
        { method, replayable: false, replacement: true },
        this.#clock.now(),
      );
      if (again.action === "return")
        this.#emitUnauthorized(next.target, "returned", again.reason, again.backoffMs);
    } else {
      this.#unauthorized.accepted(key);
    }
    return second;
  }

  /**
   * A DPoP proof (RFC 9449 §4) for a request you send with your own HTTP client: `htm`, `htu`,
   * `iat`, a fresh `jti`, `ath` when you pass the token, and the origin's last nonce (or `nonce`).
   * Send it as the `DPoP` header with `Authorization: DPoP <token>`.
   *
   * @throws TypeError when the client has no `dpop` option.
   * @example
   * const token = await client.getToken({ audience });
   * const proof = await client.dpopProof("GET", url, token);
   * await request(url, { headers: { authorization: token.authorization, dpop: proof } });
   */
  async dpopProof(
    method: string,
    url: string | URL,
    token?: AccessToken | string,
    options: DpopProofOptions = {},
  ): Promise<string> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("dpopProof options must be an object ({ nonce })");
    }
    checkOptionNames(options, [DPOP_PROOF_OPTION_NAMES], "dpopProof()");
    if (!this.#dpop) throw new TypeError("dpopProof needs the dpop option");
    const accessToken = typeof token === "string" ? token : token?.accessToken;
    return this.#dpop.proof(method, url, accessToken, options.nonce);
  }

  /** The DPoP key's JWK SHA-256 thumbprint (the `cnf.jkt` of bound tokens), or `undefined` without DPoP. */
  async dpopThumbprint(): Promise<string | undefined> {
    return this.#binding();
  }

  /** The partition of a call's key: the client's, and what the call's grant adds (a subject's hash). */
  async #keyPartition(endpoint: Endpoint, grant: Grant): Promise<string> {
    const partition = await this.#partitionOf(endpoint);
    return grant.keyPart === "" ? partition : partition + grant.keyPart;
  }

  /** The cache-key partition for requests to `endpoint` (see `CachePartition`). */
  #partitionOf(endpoint: Endpoint): MaybePromise<string> {
    const binding = this.#binding();
    return binding instanceof Promise
      ? binding.then((thumbprint) => this.#partition.resolve(endpoint.method, thumbprint))
      : this.#partition.resolve(endpoint.method, binding);
  }

  #binding(): string | undefined | Promise<string> {
    if (!this.#dpop) return undefined;
    return this.#dpop.thumbprint ?? this.#dpop.key().then((key) => key.thumbprint);
  }

  async #send(input: string | URL | Request, init: RequestInit, token: AccessToken): Promise<Response> {
    if (!this.#dpop || token.tokenType !== "DPoP") {
      return this.#fetch(input, authorizedInit(input, init, token.authorization));
    }
    const url = input instanceof Request ? input.url : String(input);
    const method = init.method ?? (input instanceof Request ? input.method : "GET");
    const proof = await this.#dpop.proof(method, url, token.accessToken);
    const response = await this.#fetch(
      input,
      authorizedInit(input, init, token.authorization, { dpop: proof }),
    );
    this.#dpop.noteNonce(url, response);
    return response;
  }

  /**
   * Drops cached tokens: those of one audience (every scope set), or all of them. Requests in flight
   * are not stored when they complete; failed keys and 401 back-offs are forgotten.
   */
  async invalidate(options: InvalidateOptions = {}): Promise<void> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("invalidate options must be an object ({ audience })");
    }
    checkOptionNames(options, [INVALIDATE_OPTION_NAMES], "invalidate()");
    if (options.audience !== undefined && typeof options.audience !== "string") {
      throw new TypeError("invalidate options.audience must be a string");
    }
    this.#generation++;
    this.#inflight.clear();
    this.#failures.clear();
    this.#unauthorized.clear();
    await this.#cache.invalidate(options, this.#endpoints.current?.url);
  }

  /** Stops background work and aborts requests in flight; later calls reject with `ClientClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new ClientClosedError();
    this.#inflight.abortAll(reason);
    this.#endpoints.close(reason);
    for (const source of this.#sources) source.close(reason);
  }

  /** Client id and issuer (or token endpoint, so labelled); never the secret or key. */
  toString(): string {
    const where =
      this.#options.issuer !== undefined
        ? `issuer: ${this.#options.issuer}`
        : `tokenEndpoint: ${this.#options.tokenEndpoint}`;
    return `ClientCredentialsClient { clientId: ${this.#options.clientId}, ${where} }`;
  }

  /** For `JSON.stringify`: `clientId`, `issuer` and `tokenEndpoint`; never the secret or key. */
  toJSON(): Record<string, unknown> {
    return {
      clientId: this.#options.clientId,
      issuer: this.#options.issuer,
      tokenEndpoint: this.#endpoints.current?.url ?? this.#options.tokenEndpoint,
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClientClosedError();
  }

  #emit(event: ClientEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A failing listener must not break token delivery.
    }
  }

  #emitUnauthorized(
    target: KeyedTarget,
    action: "token_replaced" | "returned",
    reason: Extract<ClientEvent, { type: "unauthorized" }>["reason"],
    backoffMs: number | undefined,
  ): void {
    this.#emit({
      type: "unauthorized",
      audience: target.audience,
      scope: target.scope,
      action,
      reason,
      backoffMs,
    });
  }

  /** One token request (with its retries), run as an operation for instrumentations. */
  #request(
    endpoint: Endpoint,
    target: KeyedTarget,
    grant: Grant,
    background: boolean,
    signal: AbortSignal,
  ): Promise<AccessToken> {
    return this.#instrumentations.run(
      { kind: "token_request", audience: target.audience, scope: target.scope, background },
      () => this.#fetchAndStore(endpoint, target, grant, background, signal),
    );
  }

  /** Starts a refresh of a still-valid token; the promise never rejects (`undefined` on failure). */
  #refreshInBackground(
    endpoint: Endpoint,
    target: KeyedTarget,
    grant: Grant,
    stored: StoredToken,
    now: number,
  ): Promise<AccessToken | undefined> | undefined {
    const key = target.key;
    const pausedUntil = this.#refreshPausedUntil.get(key);
    if (pausedUntil !== undefined && now < pausedUntil) return undefined;
    // Where refreshes are not shared (Workers), concurrent requests leave it to the first one for
    // as long as its request may take.
    if (requestScopedIo) this.#refreshPausedUntil.set(key, now + this.#options.timeoutMs);
    this.#emit({
      type: "refresh_started",
      audience: target.audience,
      scope: target.scope,
      expiresAt: stored.expiresAt,
    });
    return this.#inflight
      .run(key, (signal) => this.#obtainShared(endpoint, target, grant, true, { previous: stored }, signal), {
        background: true,
      })
      .then(
        (token) => {
          this.#refreshPausedUntil.delete(key);
          return token;
        },
        (error: Error) => {
          // Another identity's token is in the source now: the next call builds the new key.
          if (error instanceof PartitionChanged) {
            this.#refreshPausedUntil.delete(key);
            return undefined;
          }
          // The request already went through its retries: give the server a rest before the next
          // background try, but keep trying well before the token expires.
          const failedAt = this.#clock.now();
          this.#refreshPausedUntil.set(key, failedAt + Math.min(30_000, (stored.expiresAt - failedAt) / 4));
          this.#emit({ type: "refresh_failed", audience: target.audience, scope: target.scope, error });
          return undefined;
        },
      );
  }

  /**
   * One shared request for a key. A shared store with a lease: one process of the fleet fetches, the
   * others wait for its token (DESIGN.md "Fleets"); a token waited for must expire after `previous`
   * and must not be `rejected`. Otherwise: fetch.
   */
  async #obtainShared(
    endpoint: Endpoint,
    target: KeyedTarget,
    grant: Grant,
    background: boolean,
    wanted: { previous?: StoredToken | undefined; rejected?: string | undefined },
    signal: AbortSignal,
  ): Promise<AccessToken> {
    const lease = this.#cache.lease;
    if (!lease) return this.#request(endpoint, target, grant, background, signal);
    let fetched: AccessToken | undefined;
    const outcome = await this.#cache.leased(lease, target.key, {
      previousExpiresAt: wanted.previous?.expiresAt,
      rejected: wanted.rejected,
      clock: this.#clock,
      signal,
      fetch: async () => {
        const token = await this.#request(endpoint, target, grant, background, signal);
        fetched = token;
        const { accessToken, tokenType, expiresAt, audience } = token;
        return { accessToken, tokenType, expiresAt, refreshAt: expiresAt, scope: [...token.scope], audience };
      },
    });
    const { audience, scope } = target;
    if (outcome.kind === "unavailable") {
      this.#emit({ type: "lease_unavailable", audience, scope, reason: outcome.reason });
    } else if (outcome.kind === "shared" || outcome.waited !== "none") {
      const result =
        outcome.kind === "shared" ? "shared" : outcome.waited === "timeout" ? "timeout" : "acquired";
      this.#emit({ type: "lease_wait", audience, scope, waitedMs: outcome.waitedMs, outcome: result });
    }
    return fetched ?? new AccessToken(outcome.token);
  }

  /** One request for a key: retries, then the store; `signal` is this request's own. */
  async #fetchAndStore(
    endpoint: Endpoint,
    target: KeyedTarget,
    grant: Grant,
    background: boolean,
    signal: AbortSignal,
  ): Promise<AccessToken> {
    const generation = this.#generation;
    const started = this.#clock.now();
    let attempts = 0;
    try {
      const stored = await withRetry(
        (attempt) => {
          attempts = attempt + 1;
          return this.#requestOnce(endpoint, target, grant, signal);
        },
        {
          policy: this.#options.retry,
          clock: this.#clock,
          signal,
          onRetry: ({ attempt, delayMs, error }) => {
            if (!this.#onEvent) return;
            const status = (error as { status?: number }).status;
            this.#emit({
              type: "retry",
              audience: target.audience,
              scope: target.scope,
              attempt,
              delayMs,
              status,
              reason: (error as Error).message,
            });
          },
        },
      );
      const token = new AccessToken(stored);
      if (generation === this.#generation && !this.#closed) {
        await this.#cache.set(target.key, target.audience, stored);
        this.#failures.delete(target.key);
      }
      this.#emit({
        type: "token_fetched",
        audience: target.audience,
        scope: target.scope,
        expiresAt: stored.expiresAt,
        durationMs: this.#clock.now() - started,
        attempts,
        background,
      });
      return token;
    } catch (error) {
      if (error instanceof PartitionChanged) throw error;
      const failure = this.#closed
        ? new ClientClosedError()
        : signal.reason instanceof Abandoned
          ? new TokenRequestError("token request cancelled: every caller abandoned it", {
              transient: true,
              cause: signal.reason,
            })
          : toM2MError(error);
      // An assertion refused before any request is read again by the next call: the platform may
      // have rewritten it by then, and reading it asks nothing of the server.
      if (
        !background &&
        !signal.aborted &&
        generation === this.#generation &&
        !(failure instanceof ClientAssertionError)
      ) {
        this.#failures.record(target.key, failure, this.#clock.now());
      }
      this.#emit({
        type: "token_failed",
        audience: target.audience,
        scope: target.scope,
        durationMs: this.#clock.now() - started,
        error: failure,
        background,
      });
      throw failure;
    }
  }

  /** One attempt: build, send, read (and, with DPoP, answer a nonce challenge once: RFC 9449 §8). */
  async #requestOnce(
    endpoint: Endpoint,
    target: KeyedTarget,
    grant: Grant,
    signal: AbortSignal,
    nonceRetry = false,
  ): Promise<StoredToken> {
    const sentAt = this.#clock.now();
    const request = await buildTokenRequest({
      endpoint,
      issuer: this.#options.issuer,
      grant: await grant.parameters({ signal }),
      params: target.params,
      extraParams: this.#options.extraParams,
      headers: this.#dpop ? { dpop: await this.#dpop.proof("POST", endpoint.url) } : undefined,
      now: sentAt,
      signal,
    });
    // The assertions just read name the identity this request is for: the key must be that one's.
    if (this.#sourced && (await this.#keyPartition(endpoint, grant)) !== target.partition) {
      throw new PartitionChanged();
    }
    const { response, text } = await sendTokenRequest(this.#fetch, request, this.#options.timeoutMs, signal);
    if (this.#dpop) {
      this.#dpop.noteNonce(endpoint.url, response);
      if (!nonceRetry && isTokenNonceChallenge(response, text))
        return this.#requestOnce(endpoint, target, grant, signal, true);
    }
    let stored: StoredToken;
    try {
      stored = readTokenResponse(response, text, {
        sentAt,
        now: this.#clock.now(),
        target,
        defaultTokenLifetimeSeconds: this.#options.defaultTokenLifetimeSeconds,
        refreshWindowSeconds: this.#options.refreshWindowSeconds,
        redact: redactor([this.#secret, ...credentialsOf(request)]),
        hint: (error) =>
          oauthHint(error, {
            grantType: grant.type,
            audience: target.audience,
            assertionSource: this.#assertionSource,
          }),
        notAfter: grant.notAfter,
        acceptsNotApplicable: grant.acceptsNotApplicable,
      });
    } catch (error) {
      throw withMutualTlsHint(error, endpoint.method, transportInfo(this.#fetch));
    }
    if (this.#dpop) {
      if (stored.tokenType.toLowerCase() === "dpop") stored.tokenType = "DPoP";
      else if (stored.tokenType !== NOT_APPLICABLE && !this.#dpop.allowBearer) {
        throw new TokenRequestError(
          `token endpoint answered token_type ${stored.tokenType} to a DPoP token request (dpop.allowBearer accepts it)`,
          { status: response.status, transient: false },
        );
      }
    }
    return stored;
  }
}

function toM2MError(error: unknown): M2MError {
  if (error instanceof M2MError) return error;
  if (error instanceof TypeError) {
    // e.g. a private key that cannot be imported: a configuration problem, reported as such.
    return new TokenRequestError(`token request could not be prepared: ${error.message}`, {
      transient: false,
      cause: error,
    });
  }
  return new TokenRequestError("token request failed", { transient: false, cause: error });
}
