import type { MiddlewareHandler } from "hono";
import { type AuthConfig, type HttpAuthOptions, resolveAuth } from "../http/bearer.js";
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
  return async function m2mHonoAuth(c, next) {
    const auth = await authenticate(c.req.raw, verifier, settings);
    if (auth instanceof Response) return auth;
    if (auth) c.set("auth", auth);
    await next();
  };
}

export { HttpAuthError } from "../http/bearer.js";
export type { AuthResult } from "../verify/verifier.js";
