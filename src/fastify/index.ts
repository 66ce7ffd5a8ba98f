import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preHandlerHookHandler,
} from "fastify";
import fp from "fastify-plugin";
import {
  type AuthConfig,
  authenticateNow,
  checkRequestScopes,
  errorResponseBody,
  HttpAuthError,
  type HttpAuthOptions,
  verifierFrom,
} from "../http/bearer.js";
import type { AuthResult } from "../verify/verifier.js";

/** Per-route or per-hook requirements. */
export interface RouteAuthOptions {
  /** The token must have all of these scopes (an empty list: authenticated only). */
  scopes?: readonly string[];
  /** The token must have at least one of these scopes. */
  anyScope?: readonly string[];
  /** Let requests without credentials through, with `request.auth` null. */
  optional?: boolean;
}

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
  }
  interface FastifyContextConfig {
    /** Protect this route; the token must have all of these scopes (`[]`: authenticated only). */
    scopes?: readonly string[];
    /** Protect this route; the token must have at least one of these scopes. */
    anyScope?: readonly string[];
    /** `false` opts this route out of `global: true`. */
    auth?: boolean;
  }
}

export interface FastifyAuthOptions extends HttpAuthOptions {
  /** Protect every route registered after the plugin in its context. Default false. */
  global?: boolean;
  /** Throw failures into Fastify's error handling (with `statusCode` and `headers`) instead of answering. */
  passErrors?: boolean;
}

/** Plugin options: verifier options or `{ verifier }`, plus adapter options. */
export type M2MAuthPluginOptions = AuthConfig & FastifyAuthOptions;

/** DPoP header values, method and URL; `request.protocol` and `request.host` honour `trustProxy`. */
function dpopParts(request: FastifyRequest) {
  const values = request.raw.headersDistinct?.dpop ?? [];
  return {
    dpop: values.flatMap((value) => value.split(",")).map((value) => value.trim()),
    method: request.method,
    url: () => `${request.protocol}://${request.host}${request.url}`,
  };
}

function queryTokens(request: FastifyRequest): string[] {
  if (!request.url.includes("access_token")) return [];
  const value = (request.query as Record<string, unknown> | undefined)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Body tokens exist only where the body is parsed: in a `preHandler` (`fastify.requireAuth()` there). */
function bodyTokens(request: FastifyRequest): string[] {
  const value = (request.body as Record<string, unknown> | undefined | null)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

const plugin: FastifyPluginAsync<M2MAuthPluginOptions> = async (fastify, options) => {
  const verifier = verifierFrom(options);
  const settings: FastifyAuthOptions = options;
  fastify.decorateRequest("auth", null);

  async function fail(error: unknown, reply: FastifyReply): Promise<FastifyReply> {
    if (!(error instanceof HttpAuthError) || settings.passErrors) throw error;
    const { contentType, body } = errorResponseBody(error, settings);
    return reply.code(error.status).headers(error.headers).type(contentType).send(body);
  }

  function authHook(route: RouteAuthOptions): onRequestHookHandler {
    const http: HttpAuthOptions = { ...settings, optional: route.optional ?? settings.optional };
    const all = route.scopes && route.scopes.length > 0 ? [...route.scopes] : undefined;
    const any = route.anyScope && route.anyScope.length > 0 ? [...route.anyScope] : undefined;
    const accept = (request: FastifyRequest, auth: AuthResult | undefined) => {
      request.auth = auth ?? null;
      if (auth && all) checkRequestScopes(auth, all, false, settings.realm);
      if (auth && any) checkRequestScopes(auth, any, true, settings.realm);
    };
    // Callback style: a cached token is answered in the same tick, without a promise.
    return function m2mRequireAuth(
      request: FastifyRequest,
      reply: FastifyReply,
      done: (error?: Error) => void,
    ) {
      const onError = (error: unknown) => {
        if (!(error instanceof HttpAuthError) || settings.passErrors) return done(error as Error);
        const { contentType, body } = errorResponseBody(error, settings);
        reply.code(error.status).headers(error.headers).type(contentType).send(body);
      };
      try {
        const outcome = authenticateNow(
          verifier,
          {
            authorization: request.headers.authorization,
            queryTokens: queryTokens(request),
            bodyTokens: bodyTokens(request),
            ...(verifier.dpop && dpopParts(request)),
          },
          http,
        );
        if (outcome instanceof Promise) {
          outcome.then((auth) => {
            try {
              accept(request, auth);
              done();
            } catch (error) {
              onError(error);
            }
          }, onError);
          return;
        }
        accept(request, outcome);
        done();
      } catch (error) {
        onError(error);
      }
    } as onRequestHookHandler;
  }

  fastify.decorate("requireAuth", (route: RouteAuthOptions = {}) => authHook(route));
  fastify.decorate("requireScopes", (...scopes: string[]) => {
    if (scopes.length === 0) throw new TypeError("requireScopes needs at least one scope");
    return async function m2mRequireScopes(request: FastifyRequest, reply: FastifyReply) {
      try {
        checkRequestScopes(request.auth ?? undefined, scopes, false, settings.realm);
      } catch (error) {
        return fail(error, reply);
      }
    };
  });

  fastify.addHook("onRoute", (route) => {
    const config = (route.config ?? {}) as {
      scopes?: readonly string[];
      anyScope?: readonly string[];
      auth?: boolean;
    };
    if (config.auth === false) return;
    if (config.scopes === undefined && config.anyScope === undefined && !settings.global) return;
    const hook = authHook({ scopes: config.scopes, anyScope: config.anyScope });
    const existing =
      route.onRequest === undefined
        ? []
        : Array.isArray(route.onRequest)
          ? route.onRequest
          : [route.onRequest];
    route.onRequest = [hook, ...existing];
  });
};

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
export { HttpAuthError } from "../http/bearer.js";
export type { AuthResult } from "../verify/verifier.js";
