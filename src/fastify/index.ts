import type { FastifyPluginAsync, onRequestHookHandler, preHandlerHookHandler } from "fastify";
import fp from "fastify-plugin";
import { type AuthConfig, resolveConfig } from "../http/config.js";
import { resolveResourceMetadata } from "../http/resource-metadata.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";
import { serveMetadata } from "./metadata-routes.js";
import {
  type FastifyAuthOptions,
  type FastifyRouteAuthConfig,
  RESOURCE_METADATA,
  type RouteAuthOptions,
} from "./options.js";
import { plugin } from "./plugin.js";

export type {
  FastifyAuthOptions,
  FastifyRouteAuthConfig,
  M2MAuthPluginOptions,
  RouteAuthOptions,
} from "./options.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by m2m-kit when the request carries a valid access token; otherwise null. */
    auth: AuthResult | null;
  }
  interface FastifyInstance {
    /** An `onRequest` hook that authenticates the request (and checks scopes, if given). */
    requireAuth(options?: RouteAuthOptions): onRequestHookHandler;
    /** A `preHandler` hook: the authenticated token must have all of `scopes`. */
    requireScopes(...scopes: string[]): preHandlerHookHandler;
    /** A `preHandler` hook: the authenticated token must have at least one of `scopes`. */
    requireAnyScope(...scopes: string[]): preHandlerHookHandler;
  }
  interface FastifyContextConfig extends FastifyRouteAuthConfig {}
}

/**
 * Fastify 5 plugin: verifies bearer tokens and sets `request.auth`. Routes opt in with
 * `config: { scopes: [...] }` (or `global: true`), or use `fastify.requireAuth()` as a hook.
 *
 * @example
 * ```ts
 * await app.register(m2mAuth, { issuer: "https://tenant.example.com/", audience: "https://api.example.com" });
 * app.get("/data", { config: { scopes: ["read:data"] } }, async (request) => ({ client: request.auth?.clientId }));
 * ```
 */
export const m2mAuth = fp(plugin, { fastify: "5.x", name: "m2m-kit" });
export default m2mAuth;

/**
 * A Fastify plugin that serves this API's OAuth 2.0 Protected Resource Metadata (RFC 9728):
 * `GET /.well-known/oauth-protected-resource`, and the path-inserted form for an API under a path
 * (`/.well-known/oauth-protected-resource/v1` for `https://api.example.com/v1`, §3.1), without a
 * token, also beside `global: true`. Takes what the `m2mAuth` plugin takes; the document is built
 * from it, with `resourceMetadata` (default `{}`) for what the configuration does not say. The
 * plugin registered at the root with `resourceMetadata` serves the document itself: use this one
 * where `m2mAuth` is registered under a prefix, registered at the root. GET and HEAD answer the JSON
 * document (`Cache-Control: public, max-age=3600`, `Access-Control-Allow-Origin: *`), OPTIONS a CORS
 * preflight, other methods 405.
 *
 * @throws TypeError at creation for a bad option, or when the resource cannot be derived (see
 * `ResourceMetadataOptions.resource`).
 * @example
 * ```ts
 * const auth = { issuer: "https://tenant.example.com/", audience: "https://api.example.com/v1" };
 * await app.register(protectedResourceMetadata(auth));
 * await app.register(async (v1) => {
 *   await v1.register(m2mAuth, { ...auth, global: true, resourceMetadata: {} });
 *   v1.get("/data", async (request) => ({ client: request.auth?.clientId }));
 * }, { prefix: "/v1" });
 * ```
 */
export function protectedResourceMetadata(
  config: AuthConfig | Verifier,
  options: FastifyAuthOptions = {},
): FastifyPluginAsync {
  const { verifier, settings } = resolveConfig(config, options, RESOURCE_METADATA);
  const endpoint = resolveResourceMetadata(verifier, settings, RESOURCE_METADATA.call);
  return fp(
    async function m2mProtectedResourceMetadata(fastify) {
      serveMetadata(fastify, endpoint);
    },
    { fastify: "5.x", name: "m2m-kit-resource-metadata" },
  );
}

export { HttpAuthError } from "../http/auth-error.js";
export type { ProtectedResourceMetadata, ResourceMetadataOptions } from "../http/resource-metadata.js";
export type { AuthResult } from "../verify/verifier.js";
