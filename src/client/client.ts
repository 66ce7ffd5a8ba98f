import { LRUCache } from "lru-cache";
import { ClientClosedError, DiscoveryError, M2MError, TokenRequestError } from "../errors.js";
import { type Clock, raceAbort, systemClock } from "../lib/clock.js";
import { type AuthorizationServerMetadata, discover } from "../lib/discovery.js";
import { type FetchLike, fetchText, ResponseTooLarge, TimeoutReached } from "../lib/http.js";
import { parseRetryAfter, withRetry } from "../lib/retry.js";
import { type AudienceParam, CLIENT_PRESETS, type ClientPreset, inferProvider } from "../providers.js";
import {
  type AuthMethod,
  type ClientAuthentication,
  clientSecretBasic,
  clientSecretJwt,
  clientSecretPost,
  type PrivateKeyInput,
  privateKeyJwt,
  tlsClientAuth,
} from "./auth.js";
import {
  type ClientCredentialsClientOptions,
  type ClientEvent,
  type NormalizedOptions,
  normalizeOptions,
  normalizeScope,
  refreshAt,
} from "./options.js";
import { MemoryTokenStore, type TokenStore } from "./store.js";
import { AccessToken, type StoredToken } from "./token.js";
import { errorForStatus, parseTokenResponse } from "./token-response.js";

/** Per-call options of {@link ClientCredentialsClient.getToken}. */
export interface GetTokenOptions {
  /** Target API identifier. Default: `defaultAudience`. */
  audience?: string;
  /** Scopes, as a list or a space-delimited string. Default: `defaultScope`. */
  scope?: string | string[];
  /** Ignore a cached token and fetch a new one (joins a request already in flight). */
  forceRefresh?: boolean;
  /** Abandons this caller's wait; a request shared with other callers goes on. */
  signal?: AbortSignal;
}

/** `fetch` init plus the token to attach. */
export type ClientFetchInit = RequestInit & Pick<GetTokenOptions, "audience" | "scope">;

interface Target {
  audience: string | undefined;
  scope: string[];
}

interface Endpoint {
  url: string;
  auth: ClientAuthentication;
}

const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

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
  readonly #secret: string | undefined;
  readonly #privateKey: PrivateKeyInput | undefined;
  readonly #privateKeyAlg: string | undefined;
  readonly #keyId: string | undefined;
  readonly #fetch: FetchLike;
  readonly #clock: Clock;
  readonly #store: TokenStore;
  readonly #onEvent: ((event: ClientEvent) => void) | undefined;
  readonly #preset: ClientPreset | undefined;
  readonly #closed = new AbortController();
  readonly #inflight = new Map<string, Promise<AccessToken>>();
  readonly #targets = new LRUCache<string, Target & { key: string; endpoint: string }>({ max: 256 });
  /** Keys written per audience, so `invalidate({ audience })` finds every scope set. */
  readonly #keysByAudience = new Map<string | undefined, Set<string>>();
  /** After a failed background refresh, the next one waits (per key) until this time. */
  readonly #refreshPausedUntil = new Map<string, number>();
  /** Bumped by `invalidate`; a response to a request older than that is not stored. */
  #generation = 0;
  #endpoint: Endpoint | undefined;
  #discovering: Promise<Endpoint> | undefined;

  constructor(options: ClientCredentialsClientOptions) {
    this.#options = normalizeOptions(options);
    this.#secret = options.clientSecret;
    this.#privateKey = options.privateKey;
    this.#privateKeyAlg = options.privateKeyAlg;
    this.#keyId = options.keyId;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#clock = options.clock ?? systemClock;
    this.#store = options.store ?? new MemoryTokenStore({ maxEntries: options.cacheMaxEntries });
    this.#onEvent = options.onEvent;
    const provider =
      this.#options.provider ??
      inferProvider(new URL(this.#options.issuer ?? this.#options.tokenEndpoint ?? "invalid:"));
    this.#preset = provider ? CLIENT_PRESETS[provider] : undefined;
    if (this.#options.tokenEndpoint) {
      this.#endpoint = { url: this.#options.tokenEndpoint, auth: this.#authentication(undefined) };
    }
  }

  /** The client id this client authenticates as. */
  get clientId(): string {
    return this.#options.clientId;
  }

  /** How the target API is sent in token requests. */
  get audienceParam(): AudienceParam {
    return this.#options.audienceParam ?? this.#preset?.audienceParam ?? "resource";
  }

  /**
   * Returns a valid access token for the audience and scopes, from cache when it can.
   * Concurrent callers for the same key share one request. Never returns an expired token.
   */
  async getToken(options: GetTokenOptions = {}): Promise<AccessToken> {
    this.#assertOpen();
    if (!this.#endpoint) this.#checkCall(options);
    const endpoint = this.#endpoint ?? (await raceAbort(this.#discover(), options.signal));
    const target = this.#target(options, endpoint);
    const key = target.key;
    if (!options.forceRefresh) {
      const found = this.#store.get(key);
      const stored = found instanceof Promise ? await found : found;
      const now = this.#clock.now();
      if (stored && now < stored.expiresAt) {
        if (now >= stored.refreshAt && !this.#inflight.has(key))
          this.#refreshInBackground(key, endpoint, target, stored, now);
        if (this.#onEvent)
          this.#emit({
            type: "cache_hit",
            audience: target.audience,
            scope: target.scope,
            expiresAt: stored.expiresAt,
          });
        return new AccessToken(stored);
      }
    }
    return raceAbort(this.#shared(key, endpoint, target, false), options.signal);
  }

  /**
   * `fetch` with `Authorization: <type> <token>`. On a 401 from the API the token is dropped, a new
   * one is fetched and the request is sent once more.
   */
  async fetch(input: string | URL | Request, init: ClientFetchInit = {}): Promise<Response> {
    const { audience, scope, ...requestInit } = init;
    const tokenOptions: GetTokenOptions = { audience, scope };
    if (requestInit.signal) tokenOptions.signal = requestInit.signal;
    const spare = input instanceof Request && input.body !== null ? input.clone() : input;
    const send = async (request: string | URL | Request, token: AccessToken) => {
      const headers = new Headers(request instanceof Request ? request.headers : undefined);
      new Headers(requestInit.headers).forEach((value, name) => {
        headers.set(name, value);
      });
      headers.set("authorization", token.authorization);
      return this.#fetch(request, { ...requestInit, headers });
    };
    const token = await this.getToken(tokenOptions);
    const response = await send(input, token);
    const replayable = !(requestInit.body instanceof ReadableStream);
    if (response.status !== 401 || !replayable) return response;
    await response.body?.cancel();
    await this.#dropToken(token, tokenOptions);
    return send(spare, await this.getToken(tokenOptions));
  }

  /**
   * Drops cached tokens: those of one audience (every scope set), or all of them. Requests in flight
   * are not stored when they complete.
   */
  async invalidate(options: { audience?: string } = {}): Promise<void> {
    this.#generation++;
    this.#inflight.clear();
    const audiences = "audience" in options ? [options.audience] : [...this.#keysByAudience.keys()];
    for (const audience of audiences) {
      for (const key of this.#keysByAudience.get(audience) ?? []) await this.#store.delete(key);
      this.#keysByAudience.delete(audience);
    }
  }

  /** Stops background work and aborts requests in flight; later calls reject with `ClientClosedError`. */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new ClientClosedError());
    this.#inflight.clear();
  }

  toString(): string {
    const where = this.#options.issuer ?? this.#options.tokenEndpoint;
    return `ClientCredentialsClient { clientId: ${this.#options.clientId}, issuer: ${where} }`;
  }

  toJSON(): Record<string, unknown> {
    return {
      clientId: this.#options.clientId,
      issuer: this.#options.issuer,
      tokenEndpoint: this.#endpoint?.url ?? this.#options.tokenEndpoint,
    };
  }

  [inspectSymbol](): string {
    return this.toString();
  }

  #assertOpen(): void {
    if (this.#closed.signal.aborted) throw new ClientClosedError();
  }

  /** Per-call options checked before any request (the memoized path below checks them too). */
  #checkCall(options: GetTokenOptions): void {
    if (typeof options !== "object" || options === null)
      throw new TypeError("getToken options must be an object");
    if (options.scope !== undefined) normalizeScope(options.scope, "scope");
    const audience = options.audience;
    if (audience !== undefined && (typeof audience !== "string" || audience === "")) {
      throw new TypeError("audience must be a non-empty string");
    }
  }

  /**
   * The audience, normalized scopes and cache key of a call. Memoized per (audience, scope as given)
   * for string scopes and the defaults, so a cache hit does no parsing or key building.
   */
  #target(options: GetTokenOptions, endpoint: Endpoint): Target & { key: string } {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("getToken options must be an object");
    }
    const audience = options.audience ?? this.#options.defaultAudience;
    if (audience !== undefined && (typeof audience !== "string" || audience === "")) {
      throw new TypeError("audience must be a non-empty string");
    }
    const memoKey =
      typeof options.scope === "string" || options.scope === undefined
        ? `${audience ?? ""}\n${options.scope ?? "\u0000"}`
        : undefined;
    const memo = memoKey === undefined ? undefined : this.#targets.get(memoKey);
    if (memo && memo.endpoint === endpoint.url) return memo;
    const scope =
      options.scope === undefined ? this.#options.defaultScope : normalizeScope(options.scope, "scope");
    const key = JSON.stringify([endpoint.url, this.#options.clientId, audience ?? null, scope]);
    const target = { audience, scope, key, endpoint: endpoint.url };
    if (memoKey !== undefined) this.#targets.set(memoKey, target);
    return target;
  }

  #emit(event: ClientEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A failing listener must not break token delivery.
    }
  }

  #discover(): Promise<Endpoint> {
    if (this.#discovering) return this.#discovering;
    const issuer = this.#options.issuer as string;
    const started = this.#clock.now();
    const promise = withRetry(
      () =>
        discover(issuer, {
          fetch: this.#fetch,
          timeoutMs: this.#options.timeoutMs,
          allowInsecureHttp: this.#options.allowInsecureHttp,
          signal: this.#closed.signal,
        }),
      { policy: this.#options.retry, clock: this.#clock, signal: this.#closed.signal },
    )
      .then((metadata) => {
        if (typeof metadata.token_endpoint !== "string") {
          throw new DiscoveryError(`discovery of ${issuer} failed: the metadata has no token_endpoint`);
        }
        const endpoint = { url: metadata.token_endpoint, auth: this.#authentication(metadata) };
        this.#endpoint = endpoint;
        this.#emit({
          type: "discovery",
          issuer,
          tokenEndpoint: endpoint.url,
          durationMs: this.#clock.now() - started,
        });
        return endpoint;
      })
      .finally(() => {
        // Success is kept in #endpoint; a failure is not cached, so the next call tries again.
        this.#discovering = undefined;
      });
    this.#discovering = promise;
    promise.catch(() => {});
    return promise;
  }

  #authMethod(metadata: AuthorizationServerMetadata | undefined): AuthMethod {
    if (this.#options.authMethod) return this.#options.authMethod;
    if (this.#privateKey !== undefined) return "private_key_jwt";
    if (this.#preset) return this.#preset.authMethod;
    const supported = metadata?.token_endpoint_auth_methods_supported;
    if (!supported || supported.length === 0 || supported.includes("client_secret_basic")) {
      return "client_secret_basic";
    }
    return "client_secret_post";
  }

  #authentication(metadata: AuthorizationServerMetadata | undefined): ClientAuthentication {
    const { clientId, assertionAudience } = this.#options;
    const secret = this.#secret as string;
    switch (this.#authMethod(metadata)) {
      case "client_secret_basic":
        return clientSecretBasic(clientId, secret);
      case "client_secret_post":
        return clientSecretPost(clientId, secret);
      case "client_secret_jwt":
        return clientSecretJwt(clientId, secret, assertionAudience);
      case "private_key_jwt":
        return privateKeyJwt(clientId, this.#privateKey as PrivateKeyInput, {
          alg: this.#privateKeyAlg,
          kid: this.#keyId,
          audience: assertionAudience,
        });
      case "tls_client_auth":
        return tlsClientAuth(clientId);
    }
  }

  #shared(key: string, endpoint: Endpoint, target: Target, background: boolean): Promise<AccessToken> {
    let promise = this.#inflight.get(key);
    if (!promise) {
      promise = this.#fetchAndStore(key, endpoint, target, background).finally(() => {
        if (this.#inflight.get(key) === promise) this.#inflight.delete(key);
      });
      this.#inflight.set(key, promise);
      // Waiters may all have abandoned the request; its failure must not go unhandled.
      promise.catch(() => {});
    }
    return promise;
  }

  #refreshInBackground(
    key: string,
    endpoint: Endpoint,
    target: Target,
    stored: StoredToken,
    now: number,
  ): void {
    const pausedUntil = this.#refreshPausedUntil.get(key);
    if (pausedUntil !== undefined && now < pausedUntil) return;
    this.#emit({
      type: "refresh_started",
      audience: target.audience,
      scope: target.scope,
      expiresAt: stored.expiresAt,
    });
    this.#shared(key, endpoint, target, true).then(
      () => this.#refreshPausedUntil.delete(key),
      (error: Error) => {
        // The request already went through its retries: give the server a rest before the next
        // background try, but keep trying well before the token expires.
        const failedAt = this.#clock.now();
        this.#refreshPausedUntil.set(key, failedAt + Math.min(30_000, (stored.expiresAt - failedAt) / 4));
        this.#emit({ type: "refresh_failed", audience: target.audience, scope: target.scope, error });
      },
    );
  }

  async #fetchAndStore(
    key: string,
    endpoint: Endpoint,
    target: Target,
    background: boolean,
  ): Promise<AccessToken> {
    const generation = this.#generation;
    const started = this.#clock.now();
    let attempts = 0;
    try {
      const stored = await withRetry(
        (attempt) => {
          attempts = attempt + 1;
          return this.#requestOnce(endpoint, target);
        },
        {
          policy: this.#options.retry,
          clock: this.#clock,
          signal: this.#closed.signal,
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
      if (generation === this.#generation && !this.#closed.signal.aborted) {
        await this.#store.set(key, stored);
        const keys = this.#keysByAudience.get(target.audience) ?? new Set<string>();
        keys.add(key);
        this.#keysByAudience.set(target.audience, keys);
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
      return new AccessToken(stored);
    } catch (error) {
      const failure = this.#closed.signal.aborted ? new ClientClosedError() : toM2MError(error);
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

  async #requestOnce(endpoint: Endpoint, target: Target): Promise<StoredToken> {
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (target.scope.length > 0) body.set("scope", target.scope.join(" "));
    const audienceParam = this.audienceParam;
    if (target.audience !== undefined && audienceParam !== "none") body.set(audienceParam, target.audience);
    for (const [name, value] of Object.entries(this.#options.extraParams)) body.set(name, value);
    const headers = new Headers({
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
    });
    const sentAt = this.#clock.now();
    await endpoint.auth(body, headers, {
      tokenEndpoint: endpoint.url,
      issuer: this.#options.issuer,
      now: sentAt,
    });

    let response: Response;
    let text: string;
    try {
      ({ response, text } = await fetchText(
        this.#fetch,
        endpoint.url,
        { method: "POST", headers, body: body.toString() },
        this.#options.timeoutMs,
        this.#closed.signal,
      ));
    } catch (error) {
      if (this.#closed.signal.aborted) throw new ClientClosedError();
      throw networkError(error);
    }
    if (!response.ok) {
      throw errorForStatus(
        text,
        response.status,
        parseRetryAfter(response.headers.get("retry-after"), this.#clock.now()),
      );
    }
    const parsed = parseTokenResponse(
      text,
      response.status,
      sentAt,
      this.#options.defaultTokenLifetimeSeconds,
    );
    if (parsed.expiresAt <= this.#clock.now()) {
      throw new TokenRequestError("token endpoint returned a token that has already expired", {
        status: response.status,
        transient: false,
      });
    }
    return {
      accessToken: parsed.accessToken,
      tokenType: parsed.tokenType,
      expiresAt: parsed.expiresAt,
      refreshAt: refreshAt(sentAt, parsed.expiresAt, this.#options.refreshWindowSeconds),
      scope: parsed.scope ?? target.scope,
      audience: target.audience,
    };
  }

  async #dropToken(token: AccessToken, options: GetTokenOptions): Promise<void> {
    const endpoint = this.#endpoint;
    if (!endpoint) return;
    const key = this.#target(options, endpoint).key;
    const found = await this.#store.get(key);
    // Only drop the token that was refused: a concurrent caller may already have a newer one.
    if (found && found.accessToken === token.accessToken) await this.#store.delete(key);
  }
}

function networkError(error: unknown): TokenRequestError {
  if (error instanceof TimeoutReached) {
    return new TokenRequestError(`token request timed out after ${error.timeoutMs} ms`, {
      transient: true,
      cause: error,
    });
  }
  if (error instanceof ResponseTooLarge) {
    return new TokenRequestError(`token endpoint ${error.message}`, { transient: false, cause: error });
  }
  return new TokenRequestError("token request failed: network error", { transient: true, cause: error });
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
