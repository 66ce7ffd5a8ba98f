import type { Context, MiddlewareHandler } from "hono";
import {
  type AuthConfig,
  checkRequestScopes,
  errorResponseBody,
  HttpAuthError,
  type HttpAuthOptions,
  resolveAuth,
  resolvePerConfiguration,
} from "../http/bearer.js";
import type { WaitUntil } from "../lib/runtime.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";
import { errorResponse } from "../web/index.js";
import { authenticateFetchRequest } from "../web/request.js";

declare module "hono" {
  interface ContextVariableMap {
    /** Set by `honoAuth` when the request carries a valid access token. */
    auth: AuthResult;
  }
}

/** Options of {@link honoAuth} beside the verifier's. */
export interface HonoAuthOptions extends HttpAuthOptions {
  /**
   * Throw Hono's `HTTPException` (its `res` is the RFC 6750 response, its `cause` the
   * `HttpAuthError`) instead of answering, so that `app.onError` sees every failure. Default false.
   */
  httpException?: boolean;
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

/**
 * Hono middleware: verifies the bearer token and sets `c.get("auth")`; answers 400/401/403/503 per
 * RFC 6750 otherwise (or throws `HTTPException` with that response, with `httpException: true`).
 *
 * `config` may be a function of the context, for configuration read from bindings at request time
 * (`c.env` on Workers); one verifier is kept per distinct configuration it returns. On Workers, key
 * refreshes go to `c.executionCtx.waitUntil`.
 *
 * @example
 * ```ts
 * app.use("/api/*", honoAuth({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" }));
 * app.use("/api/*", honoAuth((c) => ({ issuer: c.env.ISSUER, audience: c.env.AUDIENCE })));
 * app.get("/api/data", (c) => c.json({ client: c.get("auth").clientId }));
 * ```
 */
export function honoAuth(
  config: AuthConfig | Verifier | ((c: Context) => AuthConfig | Verifier),
  options: HonoAuthOptions = {},
): MiddlewareHandler {
  const resolve = typeof config === "function" ? resolvePerConfiguration() : undefined;
  const fixed = typeof config === "function" ? undefined : resolveAuth(config, options);
  return async function m2mHonoAuth(c, next) {
    const { verifier, settings } =
      fixed ?? resolve!((config as (c: Context) => AuthConfig | Verifier)(c), options);
    let auth: AuthResult | undefined;
    try {
      auth = await authenticateFetchRequest(c.req.raw, verifier, settings, honoWaitUntil(c));
    } catch (error) {
      if (!(error instanceof HttpAuthError)) throw error;
      const response = errorResponse(error, settings);
      if (!(settings as HonoAuthOptions).httpException) return response;
      const { HTTPException } = await import("hono/http-exception");
      throw new HTTPException(error.status as 401, { res: response, message: error.message, cause: error });
    }
    if (auth) c.set("auth", auth);
    await next();
  };
}

/** Route middleware after `honoAuth`: the token must have every one of `scopes`. */
export function requireScopes(...scopes: string[]): MiddlewareHandler {
  if (scopes.length === 0) throw new TypeError("requireScopes needs at least one scope");
  return async function m2mHonoRequireScopes(c, next) {
    try {
      checkRequestScopes(c.get("auth"), scopes, false);
    } catch (error) {
      if (!(error instanceof HttpAuthError)) throw error;
      const { contentType, body } = errorResponseBody(error);
      return new Response(body, {
        status: error.status,
        headers: { ...error.headers, "content-type": contentType },
      });
    }
    await next();
  };
}

export { HttpAuthError } from "../http/bearer.js";
export type { AuthResult } from "../verify/verifier.js";
