import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preHandlerHookHandler,
} from "fastify";
import { errorResponseBody, HttpAuthError, reportRefusal } from "../http/auth-error.js";
import { authenticateNow, checkRequestScopes } from "../http/bearer.js";
import { adapterConfig, type HttpAuthOptions, verifierFrom } from "../http/config.js";
import { checkPublicUrlFor } from "../http/public-url.js";
import { resourceMetadataOf, withResourceMetadata } from "../http/resource-metadata.js";
import { checkOptionNames, isKnownName, knownOptions, nearMiss, optionNamesOf } from "../lib/option-names.js";
import { nodeCertificateSource } from "../node/peer-certificate.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { emitTo } from "../verify/events.js";
import type { AuthResult } from "../verify/verifier.js";
import { serveMetadata } from "./metadata-routes.js";
import {
  type FastifyAuthOptions,
  type M2MAuthPluginOptions,
  PLUGIN,
  ROUTE_AUTH_OPTION_NAMES,
  ROUTE_CONFIG_NAMES,
  type RouteAuthOptions,
} from "./options.js";
import { authorizationOf, bodyTokens, dpopParts, queryTokens } from "./request.js";

/** The plugin's state in the context it was registered in (a child context may register its own). */
const STATE = Symbol.for("m2m-kit.fastify.state");

interface PluginState {
  settings: FastifyAuthOptions;
  hook(route: RouteAuthOptions, where?: string): onRequestHookHandler;
  scopes(scopes: string[], anyOf: boolean): preHandlerHookHandler;
}

type WithState = { [STATE]?: PluginState };

/** Names that mean m2m-kit's route keys in other words: a route that uses them must not stay open. */
const ALIASES = /^(any_?)?(required_?)?scopes?$|^anyscopes$|^require(d)?_?scopes?$|^auth(entication)?$/i;

/** The route key `key` stands for when it is a near-miss or an alias of one, else `undefined`. */
function meantRouteKey(key: string): string | undefined {
  if (isKnownName(key, [ROUTE_CONFIG_NAMES])) return undefined;
  const near = nearMiss(key, ROUTE_CONFIG_NAMES);
  if (near !== undefined) return near;
  if (!ALIASES.test(key)) return undefined;
  return /any/i.test(key) ? "anyScope" : /scope/i.test(key) ? "scopes" : "auth";
}

/** Scopes given to a route or a hook: a list of RFC 6749 §3.3 scope tokens. */
function checkScopeList(value: unknown, option: string): void {
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string" && s !== "")) {
    throw new TypeError(`${option} must be an array of non-empty scope strings`);
  }
  checkScopeTokens(value, option);
}

function checkRouteConfig(config: Record<string, unknown>, route: string): void {
  for (const key of optionNamesOf(config)) {
    const meant = meantRouteKey(key);
    if (meant !== undefined) {
      throw new TypeError(
        `route ${route}: config.${key} is not an m2m-kit route option (scopes, anyScope or auth); did you mean config.${meant}?`,
      );
    }
  }
  for (const key of ["scopes", "anyScope"] as const) {
    if (config[key] !== undefined) checkScopeList(config[key], `route ${route}: config.${key}`);
  }
  if (config.auth !== undefined && typeof config.auth !== "boolean") {
    throw new TypeError(`route ${route}: config.auth must be a boolean`);
  }
}

export const plugin: FastifyPluginAsync<M2MAuthPluginOptions> = async (fastify, registered) => {
  // Read as a plain object: options inherited from a prototype count as own ones do.
  const options = adapterConfig(registered, PLUGIN);
  const verifier = verifierFrom(options, PLUGIN);
  checkPublicUrlFor(verifier, options);
  const settings: FastifyAuthOptions = withResourceMetadata(verifier, options, PLUGIN.call);
  // RFC 9728: the metadata at the application's root, public also under `global: true`. Under a
  // prefix the root is out of reach: protectedResourceMetadata() registered at the root serves it.
  const metadata = resourceMetadataOf(settings);
  if (metadata !== undefined && fastify.prefix === "") serveMetadata(fastify, metadata);
  // RFC 8705 §3: the client certificate of the TLS connection, or of the configured header.
  const certificateOf = nodeCertificateSource(settings);
  if (!fastify.hasRequestDecorator("auth")) fastify.decorateRequest("auth", null);

  /** Answers a refusal, fail closed: never twice, and an error while answering goes to Fastify. */
  function answer(error: unknown, reply: FastifyReply, done: (error?: Error) => void): void {
    if (!(error instanceof HttpAuthError) || settings.passErrors) {
      if (error instanceof HttpAuthError) reportRefusal(error, settings);
      done(error as Error);
      return;
    }
    try {
      if (reply.sent) {
        // Answered already (a request timeout): the request ends here, refused.
        reportRefusal(error, settings);
        emitTo(settings.onEvent, {
          type: "response_failed",
          status: error.status,
          error: new Error("the response was already sent"),
        });
        return;
      }
      const { contentType, body } = errorResponseBody(error, settings);
      reply.code(error.status).headers(error.headers).type(contentType).send(body);
    } catch (answerError) {
      emitTo(settings.onEvent, { type: "response_failed", status: error.status, error: answerError });
      done(answerError as Error);
    }
  }

  function authHook(route: RouteAuthOptions, where?: string): onRequestHookHandler {
    if (where !== undefined) {
      if (typeof route !== "object" || route === null)
        throw new TypeError(`${where} options must be an object`);
      checkOptionNames(route, [ROUTE_AUTH_OPTION_NAMES], where);
      route = knownOptions(route, [ROUTE_AUTH_OPTION_NAMES]);
      for (const key of ["scopes", "anyScope"] as const) {
        if (route[key] !== undefined) checkScopeList(route[key], key);
      }
    }
    if (route.optional !== undefined && typeof route.optional !== "boolean") {
      throw new TypeError("optional must be a boolean");
    }
    const http: HttpAuthOptions = { ...settings, optional: route.optional ?? settings.optional };
    const all = route.scopes && route.scopes.length > 0 ? [...route.scopes] : undefined;
    const any = route.anyScope && route.anyScope.length > 0 ? [...route.anyScope] : undefined;
    const accept = (request: FastifyRequest, auth: AuthResult | undefined) => {
      request.auth = auth ?? null;
      if (auth && all) checkRequestScopes(auth, all, false, settings);
      if (auth && any) checkRequestScopes(auth, any, true, settings);
    };
    // Callback style: a cached token is answered in the same tick, without a promise.
    return function m2mRequireAuth(
      request: FastifyRequest,
      reply: FastifyReply,
      done: (error?: Error) => void,
    ) {
      let outcome: AuthResult | undefined | Promise<AuthResult | undefined>;
      try {
        outcome = authenticateNow(
          verifier,
          {
            authorization: authorizationOf(request),
            queryTokens: queryTokens(request),
            bodyTokens: bodyTokens(request),
            clientCertificate: certificateOf(request.raw.socket, (name) => request.headers[name]),
            ...(verifier.dpop && dpopParts(request, settings)),
          },
          http,
        );
        if (!(outcome instanceof Promise)) accept(request, outcome);
      } catch (error) {
        answer(error, reply, done);
        return;
      }
      if (outcome instanceof Promise) {
        outcome
          .then(
            (auth) => {
              try {
                accept(request, auth);
              } catch (error) {
                answer(error, reply, done);
                return;
              }
              done();
            },
            (error: unknown) => answer(error, reply, done),
          )
          .catch((error: unknown) => done(error as Error));
        return;
      }
      done();
    } as onRequestHookHandler;
  }

  function scopesHook(scopes: string[], anyOf: boolean): preHandlerHookHandler {
    const name = anyOf ? "requireAnyScope" : "requireScopes";
    if (scopes.length === 0 || !scopes.every((s) => typeof s === "string" && s !== "")) {
      throw new TypeError(`${name} needs at least one non-empty scope`);
    }
    checkScopeTokens(scopes, name);
    return function m2mRequireScopes(
      request: FastifyRequest,
      reply: FastifyReply,
      done: (error?: Error) => void,
    ) {
      try {
        checkRequestScopes(request.auth ?? undefined, scopes, anyOf, settings);
      } catch (error) {
        answer(error, reply, done);
        return;
      }
      done();
    } as preHandlerHookHandler;
  }

  const state: PluginState = { settings, hook: authHook, scopes: scopesHook };
  // A plain property on this context's instance: a child context that registers the plugin again
  // (another audience) shadows it for its own routes, without a second decorator.
  (fastify as unknown as WithState)[STATE] = state;
  const nearest = (instance: unknown): PluginState => (instance as WithState)[STATE] ?? state;

  if (!fastify.hasDecorator("requireAuth")) {
    fastify.decorate("requireAuth", function requireAuth(this: unknown, route: RouteAuthOptions = {}) {
      return nearest(this).hook(route, "fastify.requireAuth()");
    });
  }
  if (!fastify.hasDecorator("requireScopes")) {
    fastify.decorate("requireScopes", function requireScopes(this: unknown, ...scopes: string[]) {
      return nearest(this).scopes(scopes, false);
    });
  }
  if (!fastify.hasDecorator("requireAnyScope")) {
    fastify.decorate("requireAnyScope", function requireAnyScope(this: unknown, ...scopes: string[]) {
      return nearest(this).scopes(scopes, true);
    });
  }

  fastify.addHook("onRoute", function m2mOnRoute(this: unknown, route) {
    // Routes of a child context that registered its own plugin belong to that registration.
    if (nearest(this) !== state) return;
    const config = (route.config ?? {}) as Record<string, unknown>;
    checkRouteConfig(config, `${String(route.method)} ${route.url}`);
    if (config.auth === false) return;
    if (config.scopes === undefined && config.anyScope === undefined && !settings.global) return;
    const hook = authHook({
      scopes: config.scopes as readonly string[] | undefined,
      anyScope: config.anyScope as readonly string[] | undefined,
    });
    const existing =
      route.onRequest === undefined
        ? []
        : Array.isArray(route.onRequest)
          ? route.onRequest
          : [route.onRequest];
    route.onRequest = [hook, ...existing];
  });
};
