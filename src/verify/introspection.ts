import type { JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { InvalidTokenError, VerifierUnavailableError } from "../errors.js";
import { type FetchLike, fetchText, parseJsonObject } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import { describeNetworkError } from "../lib/network-error.js";
import type { OptionNames } from "../lib/option-names.js";
import { requestScopedIo } from "../lib/runtime.js";
import { clientSecretBasic, clientSecretPost } from "../oauth/client-auth.js";
import { emitTo, type VerifierEventListener } from "./events.js";

/** RFC 7662 token introspection, for opaque access tokens. */
export interface IntrospectionOptions {
  /** Introspection endpoint. Default: `introspection_endpoint` from the issuer's discovery document. */
  endpoint?: string;
  /** The API's own client id at the authorization server (RFC 7662 §2.1: the caller authenticates). Required. */
  clientId: string;
  /** The API's own client secret at the authorization server. Required; never in a message or event. */
  clientSecret: string;
  /** How `clientId` and `clientSecret` are sent (RFC 6749 §2.3.1). Default `client_secret_basic`. */
  authMethod?: "client_secret_basic" | "client_secret_post";
  /** Introspect JWTs too, instead of verifying them locally. Default false: only non-JWT tokens. */
  allTokens?: boolean;
  /** An answer is reused until the token's `exp`, but never longer than this. Default 60 000. */
  cacheMaxAgeMs?: number;
  /** Bound of the answer cache. Default 10 000. */
  cacheMaxEntries?: number;
  /**
   * An answer must carry the audience (`aud`, or the issuer's `audienceClaim`) when the verifier
   * has one configured: without it the API cannot know that the token was issued for it (RFC 9700
   * §2.3), and the token is refused (`ERR_JWT_AUDIENCE`). Default `true`; `false` only for an
   * authorization server that never returns an audience (an answer that has one is still checked).
   */
  requireAudience?: boolean;
}

/** The names of {@link IntrospectionOptions}. */
export const INTROSPECTION_OPTION_NAMES: OptionNames<IntrospectionOptions> = {
  endpoint: true,
  clientId: true,
  clientSecret: true,
  authMethod: true,
  allTokens: true,
  cacheMaxAgeMs: true,
  cacheMaxEntries: true,
  requireAudience: true,
};

interface Answer {
  token: string;
  claims: JWTPayload | undefined;
  until: number;
}

/** The introspection client of one verifier: bounded answer cache, one request in flight per token. */
export class Introspector {
  readonly #options: IntrospectionOptions;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #answers: LRUCache<string, Answer>;
  readonly #inflight = new Map<string, Promise<JWTPayload>>();
  readonly #authenticate: ReturnType<typeof clientSecretBasic>;
  /** `requireAudience`: an answer without an audience is refused when one is configured. */
  readonly requireAudience: boolean;
  #requests = 0;

  readonly #onEvent: VerifierEventListener | undefined;
  readonly #run: RunOperation;

  constructor(
    options: IntrospectionOptions,
    fetchImpl: FetchLike,
    now: () => number,
    timeoutMs: number,
    onEvent?: VerifierEventListener,
    run: RunOperation = (_operation, work) => work(),
  ) {
    if (typeof options.clientId !== "string" || options.clientId === "") {
      throw new TypeError("introspection.clientId must be a non-empty string");
    }
    if (typeof options.clientSecret !== "string" || options.clientSecret === "") {
      throw new TypeError("introspection.clientSecret must be a non-empty string");
    }
    const method = options.authMethod ?? "client_secret_basic";
    if (method !== "client_secret_basic" && method !== "client_secret_post") {
      throw new TypeError('introspection.authMethod must be "client_secret_basic" or "client_secret_post"');
    }
    if (options.requireAudience !== undefined && typeof options.requireAudience !== "boolean") {
      throw new TypeError("introspection.requireAudience must be a boolean");
    }
    this.requireAudience = options.requireAudience ?? true;
    this.#options = options;
    this.#fetch = fetchImpl;
    this.#now = now;
    this.#timeoutMs = timeoutMs;
    this.#onEvent = onEvent;
    this.#run = run;
    this.#answers = new LRUCache({ max: options.cacheMaxEntries ?? 10_000 });
    this.#authenticate =
      method === "client_secret_basic"
        ? clientSecretBasic(options.clientId, options.clientSecret)
        : clientSecretPost(options.clientId, options.clientSecret);
  }

  /** Whether this token goes to the introspection endpoint rather than local JWT verification. */
  handles(token: string): boolean {
    if (this.#options.allTokens) return true;
    const first = token.indexOf(".");
    const second = token.indexOf(".", first + 1);
    return first === -1 || second === -1 || token.indexOf(".", second + 1) !== -1;
  }

  /** Number of introspection requests made so far. */
  get requests(): number {
    return this.#requests;
  }

  /**
   * The claims of an active token. Throws `InvalidTokenError` (`ERR_TOKEN_INACTIVE`) for an inactive
   * one, `VerifierUnavailableError` when the endpoint cannot answer.
   */
  async introspect(token: string, endpoint: string): Promise<JWTPayload> {
    const key = token.length > 32 ? token.slice(-32) : token;
    const cached = this.#answers.get(key);
    if (cached && cached.token === token && this.#now() < cached.until) return this.#settle(cached.claims);
    // One request in flight per token, except on Workers (lib/runtime.ts).
    if (requestScopedIo) return this.#request(token, endpoint, key);
    let pending = this.#inflight.get(token);
    if (!pending) {
      pending = this.#run({ kind: "introspection" }, () => this.#request(token, endpoint, key)).finally(() =>
        this.#inflight.delete(token),
      );
      this.#inflight.set(token, pending);
    }
    return pending;
  }

  #settle(claims: JWTPayload | undefined): JWTPayload {
    if (!claims) throw new InvalidTokenError("ERR_TOKEN_INACTIVE", "token is not active");
    return claims;
  }

  async #request(token: string, endpoint: string, key: string): Promise<JWTPayload> {
    const started = this.#now();
    let claims: JWTPayload | undefined;
    try {
      claims = await this.#ask(token, endpoint, key);
    } catch (error) {
      emitTo(this.#onEvent, {
        type: "introspection_failed",
        endpoint,
        durationMs: this.#now() - started,
        error: error as VerifierUnavailableError,
      });
      throw error;
    }
    emitTo(this.#onEvent, {
      type: "introspection_answered",
      endpoint,
      active: claims !== undefined,
      durationMs: this.#now() - started,
    });
    return this.#settle(claims);
  }

  async #ask(token: string, endpoint: string, key: string): Promise<JWTPayload | undefined> {
    const body = new URLSearchParams({ token, token_type_hint: "access_token" });
    const headers = new Headers({
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded",
    });
    await this.#authenticate(body, headers, { tokenEndpoint: endpoint, issuer: undefined, now: this.#now() });
    this.#requests++;
    let response: Response;
    let text: string;
    try {
      ({ response, text } = await fetchText(
        this.#fetch,
        endpoint,
        { method: "POST", headers, body: body.toString() },
        this.#timeoutMs,
      ));
    } catch (error) {
      const reason = describeNetworkError(error, endpoint);
      throw new VerifierUnavailableError(`introspection at ${endpoint} unavailable: ${reason}`, {
        cause: error,
      });
    }
    const answer = response.ok ? parseJsonObject(text) : undefined;
    if (!answer || typeof answer.active !== "boolean") {
      // A refused or broken introspection call says nothing about the token: answer 503, not 401.
      throw new VerifierUnavailableError(
        `introspection at ${endpoint} unavailable: ${response.ok ? "not an introspection response" : `HTTP ${response.status}`}`,
      );
    }
    const now = this.#now();
    const maxAge = this.#options.cacheMaxAgeMs ?? 60_000;
    const claims = answer.active ? (answer as JWTPayload) : undefined;
    const exp = typeof claims?.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY;
    this.#answers.set(key, { token, claims, until: Math.min(now + maxAge, exp) });
    return claims;
  }
}
