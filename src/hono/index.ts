import type { MiddlewareHandler } from "hono";
import {
  type AuthConfig,
  checkRequestScopes,
  errorResponseBody,
  HttpAuthError,
  type HttpAuthOptions,
  resolveAuth,
} from "../http/bearer.js";
import { checkCertificateBindingOptions } from "../http/certificate-binding.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";
import { authenticate } from "../web/index.js";

declare module "hono" {
  interface ContextVariableMap {
    /** Set by `honoAuth` when the request carries a valid access token. */
    auth: AuthResult;
  }
}

/**
 * Hono middleware: verifies the bearer token and sets `c.get("auth")`; answers 400/401/403/503 per
 * RFC 6750 otherwise.
 *
 * @example
 * ```ts
 * app.use("/api/*", honoAuth({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" }));
 * app.get("/api/data", (c) => c.json({ client: c.get("auth").clientId }));
 * ```
 */
export function honoAuth(config: AuthConfig | Verifier, options: HttpAuthOptions = {}): MiddlewareHandler {
  const { verifier, settings } = resolveAuth(config, options);
  checkCertificateBindingOptions(settings);
  return async function m2mHonoAuth(c, next) {
    const auth = await authenticate(c.req.raw, verifier, settings);
    if (auth instanceof Response) return auth;
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
