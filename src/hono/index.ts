import type { Context, MiddlewareHandler } from "hono";
import type { JWTPayload } from "jose";
import { MissingPeerDependencyError } from "../errors.js";
import { errorResponseBody, HttpAuthError } from "../http/auth-error.js";
import { checkRequestScopes } from "../http/bearer.js";
import { checkCertificateBindingOptions } from "../http/certificate-binding.js";
import {
  type AdapterNames,
  type AuthConfig,
  checkAdapterOptions,
  type HttpAuthOptions,
  resolveAuth,
  resolveConfig,
  resolvePerConfiguration,
} from "../http/config.js";
import {
  answerMetadataRequest,
  type MetadataAnswer,
  resolveResourceMetadata,
  resourceMetadataOf,
} from "../http/resource-metadata.js";
import type { OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { emitTo } from "../verify/events.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";
import { authenticateFetchRequest } from "../web/request.js";

declare module "hono" {
  interface ContextVariableMap {
    /**
     * Set by `honoAuth`. On a route that Hono cannot see the middleware on (`app.use` on another
     * statement), it may be absent: the handlers after `honoAuth` or `requireScopes` see it present.
     */
    auth: AuthResult | undefined;
  }
}

/**
 * The Hono environment that {@link honoAuth} gives the handlers after it: `c.get("auth")` is the
 * verified token. Use it to type an app whose every route is protected (`new Hono<HonoAuthEnv>()`),
 * or let Hono infer it from the middleware in `app.get(path, honoAuth(…), handler)`.
 */
export type HonoAuthEnv<Claims extends JWTPayload = JWTPayload> = {
  /** Hono's context variables (`c.get`). */
  Variables: {
    /** The verified access token. */
    auth: AuthResult<Claims>;
  };
};

/** The environment after `honoAuth(…, { optional: true })`: no credentials, no `auth`. */
export type HonoOptionalAuthEnv<Claims extends JWTPayload = JWTPayload> = {
  /** Hono's context variables (`c.get`). */
  Variables: {
    /** The verified access token; `undefined` when the request carried no credentials. */
    auth: AuthResult<Claims> | undefined;
  };
};

/** Options of {@link honoAuth} beside the verifier's. */
export interface HonoAuthOptions extends HttpAuthOptions {
  /**
   * Throw Hono's `HTTPException` (its `res` is the RFC 6750 response, its `cause` the
   * `HttpAuthError`) instead of answering, so that `app.onError` sees every failure. Default false.
   */
  httpException?: boolean;
}

/** The names of {@link HonoAuthOptions} besides {@link HttpAuthOptions}'. */
const HONO_OPTION_NAMES: OptionNames<HonoAuthOptions, HttpAuthOptions> = { httpException: true };

const HONO_AUTH: AdapterNames = {
  call: "honoAuth()",
  options: "honoAuth() (second argument)",
  names: [HONO_OPTION_NAMES],
};

const RESOURCE_METADATA: AdapterNames = {
  call: "protectedResourceMetadata()",
  options: "protectedResourceMetadata() (second argument)",
  names: [HONO_OPTION_NAMES],
};

function metadataResponse(answer: MetadataAnswer): Response {
  return new Response(answer.body ?? null, { status: answer.status, headers: answer.headers });
}

/** `c.executionCtx.waitUntil` where the runtime has one (Workers); Hono's getter throws elsewhere. */
function honoWaitUntil(c: Context): WaitUntil | undefined {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined;
  }
}

/** The settings of the `honoAuth` that authenticated a request, for `requireScopes` after it. */
const settingsOf = new WeakMap<Request, HonoAuthOptions>();

/**
 * The RFC 6750 answer to a refusal, fail closed: an error while building it (an `errorBody` hook
 * that throws) is reported (`response_failed`) and thrown to Hono's error handling (`app.onError`),
 * so the route never runs and the server answers 500 instead of crashing.
 */
async function refuse(error: HttpAuthError, settings: HonoAuthOptions): Promise<Response> {
  let response: Response;
  try {
    const { contentType, body } = errorResponseBody(error, settings);
    response = new Response(body, {
      status: error.status,
      headers: { ...error.headers, "content-type": contentType },
    });
  } catch (answerError) {
    emitTo(settings.onEvent, { type: "response_failed", status: error.status, error: answerError });
    throw answerError;
  }
  if (!settings.httpException) return response;
  const { HTTPException } = await import("hono/http-exception").catch((cause: unknown) => {
    throw new MissingPeerDependencyError("hono", "m2m-kit/hono (httpException: true)", { cause });
  });
  throw new HTTPException(error.status as 401, { res: response, message: error.message, cause: error });
}

/**
 * Hono middleware: verifies the bearer token and sets `c.get("auth")`; answers 400/401/403/503 per
 * RFC 6750 otherwise (or throws `HTTPException` with that response, with `httpException: true`).
 *
 * Typed the way Hono's `createMiddleware<HonoAuthEnv>()` types a middleware: the handlers after it
 * see `c.get("auth")` as an {@link AuthResult} (with `optional: true`, `AuthResult | undefined`);
 * `honoAuth<MyClaims>(…)` types the claims. Hono has no way to carry a type from `app.use` to the
 * routes registered after it on another statement: chain them (`new Hono().use(…).get(…)`), pass
 * the middleware on the route, or type the app (`new Hono<HonoAuthEnv>()`).
 *
 * `config` may be a function of the context, for configuration read from bindings at request time
 * (`c.env` on Workers); one verifier is kept per distinct configuration it returns. On Workers, key
 * refreshes go to `c.executionCtx.waitUntil`.
 *
 * @throws TypeError for bad options (at creation, or on the first request for a `config` function).
 * @example
 * ```ts
 * app.get("/api/data", honoAuth({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" }),
 *   (c) => c.json({ client: c.get("auth").clientId }));
 * app.use("/api/*", honoAuth((c) => ({ issuer: c.env.ISSUER, audience: c.env.AUDIENCE })));
 * ```
 */
export function honoAuth<Claims extends JWTPayload = JWTPayload>(
  config: (AuthConfig & { optional: true }) | Verifier | ((c: Context) => AuthConfig | Verifier),
  options: HonoAuthOptions & { optional: true },
): MiddlewareHandler<HonoOptionalAuthEnv<Claims>>;
export function honoAuth<Claims extends JWTPayload = JWTPayload>(
  config: AuthConfig & { optional: true },
  options?: HonoAuthOptions,
): MiddlewareHandler<HonoOptionalAuthEnv<Claims>>;
export function honoAuth<Claims extends JWTPayload = JWTPayload>(
  config: AuthConfig | Verifier | ((c: Context) => AuthConfig | Verifier),
  options?: HonoAuthOptions & { optional?: false },
): MiddlewareHandler<HonoAuthEnv<Claims>>;
export function honoAuth(
  config: AuthConfig | Verifier | ((c: Context) => AuthConfig | Verifier),
  options: HonoAuthOptions = {},
  // biome-ignore lint/suspicious/noExplicitAny: the overloads above give the environment.
): MiddlewareHandler<any> {
  // Adapter options are checked now; a `config` function's result on the first request it returns it.
  if (typeof config === "function") checkAdapterOptions(options, HONO_AUTH);
  const resolve = typeof config === "function" ? resolvePerConfiguration(HONO_AUTH) : undefined;
  const fixed = typeof config === "function" ? undefined : resolveAuth(config, options, HONO_AUTH);
  if (fixed) checkCertificateBindingOptions(fixed.settings);
  return async function m2mHonoAuth(c: Context<HonoOptionalAuthEnv>, next) {
    const { verifier, settings } =
      fixed ?? resolve!((config as (c: Context) => AuthConfig | Verifier)(c), options);
    // RFC 9728: the metadata is public, also where every other path needs a token.
    const metadata = resourceMetadataOf(settings);
    const answer = metadata && answerMetadataRequest(metadata, c.req.method, c.req.path);
    if (answer !== undefined) return metadataResponse(answer);
    settingsOf.set(c.req.raw, settings);
    let auth: AuthResult | undefined;
    try {
      auth = await authenticateFetchRequest(c.req.raw, verifier, settings, honoWaitUntil(c));
    } catch (error) {
      if (!(error instanceof HttpAuthError)) throw error;
      return refuse(error, settings);
    }
    c.set("auth", auth);
    await next();
  };
}

function scopesMiddleware(scopes: string[], anyOf: boolean, name: string): MiddlewareHandler<HonoAuthEnv> {
  if (scopes.length === 0 || !scopes.every((s) => typeof s === "string" && s !== "")) {
    throw new TypeError(`${name} needs at least one non-empty scope`);
  }
  checkScopeTokens(scopes, name);
  return async function m2mHonoRequireScopes(c, next) {
    const settings = settingsOf.get(c.req.raw) ?? {};
    try {
      checkRequestScopes(c.get("auth") as AuthResult | undefined, scopes, anyOf, settings);
    } catch (error) {
      if (!(error instanceof HttpAuthError)) throw error;
      return refuse(error, settings);
    }
    await next();
  };
}

/**
 * Route middleware after {@link honoAuth}: the token must have every one of `scopes` (403
 * `insufficient_scope` otherwise; 401 when the request was not authenticated). The handlers after it
 * see `c.get("auth")` as present.
 *
 * @throws TypeError without a non-empty scope.
 * @example
 * ```ts
 * app.get("/orders", honoAuth(verifier), requireScopes("read:orders"), (c) => c.json(c.get("auth").scopes));
 * ```
 */
export function requireScopes(...scopes: string[]): MiddlewareHandler<HonoAuthEnv> {
  return scopesMiddleware(scopes, false, "requireScopes");
}

/**
 * Route middleware after {@link honoAuth}: the token must have at least one of `scopes`.
 *
 * @throws TypeError without a non-empty scope.
 * @example
 * ```ts
 * app.delete("/orders/:id", honoAuth(verifier), requireAnyScope("admin", "delete:orders"), handler);
 * ```
 */
export function requireAnyScope(...scopes: string[]): MiddlewareHandler<HonoAuthEnv> {
  return scopesMiddleware(scopes, true, "requireAnyScope");
}

/**
 * Hono middleware that serves this API's OAuth 2.0 Protected Resource Metadata (RFC 9728):
 * `GET /.well-known/oauth-protected-resource`, and the path-inserted form for an API under a path
 * (`/.well-known/oauth-protected-resource/v1` for `https://api.example.com/v1`, §3.1), without a
 * token; other requests go to `next()`. Takes what `honoAuth` takes (a fixed configuration); the
 * document is built from it, with `resourceMetadata` (default `{}`) for what the configuration does
 * not say. Use it with `app.use()` where `honoAuth` protects single routes or a sub-path: those do
 * not see the well-known request. GET and HEAD answer the JSON document (`Cache-Control: public,
 * max-age=3600`, `Access-Control-Allow-Origin: *`), OPTIONS a CORS preflight, other methods 405.
 *
 * @throws TypeError at creation for a bad option, or when the resource cannot be derived (see
 * `ResourceMetadataOptions.resource`).
 * @example
 * ```ts
 * const auth = { issuer: "https://tenant.example.com/", audience: "https://api.example.com", resourceMetadata: {} };
 * app.use(protectedResourceMetadata(auth));
 * app.use("/orders/*", honoAuth(auth));
 * ```
 */
export function protectedResourceMetadata(
  config: AuthConfig | Verifier,
  options: HonoAuthOptions = {},
): MiddlewareHandler {
  const { verifier, settings } = resolveConfig(config, options, RESOURCE_METADATA);
  const endpoint = resolveResourceMetadata(verifier, settings, RESOURCE_METADATA.call);
  return async function m2mProtectedResourceMetadata(c, next) {
    const answer = answerMetadataRequest(endpoint, c.req.method, c.req.path);
    if (answer !== undefined) return metadataResponse(answer);
    await next();
  };
}

export { HttpAuthError } from "../http/auth-error.js";
export type { ProtectedResourceMetadata, ResourceMetadataOptions } from "../http/resource-metadata.js";
export type { AuthResult } from "../verify/verifier.js";
