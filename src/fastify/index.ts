import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preHandlerHookHandler,
  RegisterOptions,
} from "fastify";
import fp from "fastify-plugin";
import { errorResponseBody, HttpAuthError, reportRefusal } from "../http/auth-error.js";
import { authenticateNow, checkRequestScopes } from "../http/bearer.js";
import {
  type AdapterNames,
  type AuthConfig,
  adapterConfig,
  type HttpAuthOptions,
  resolveConfig,
  verifierFrom,
} from "../http/config.js";
import { checkPublicUrlFor, publicRequestUrl } from "../http/public-url.js";
import {
  answerMetadataRequest,
  type ResourceMetadataEndpoint,
  resolveResourceMetadata,
  resourceMetadataOf,
  withResourceMetadata,
} from "../http/resource-metadata.js";
import {
  checkOptionNames,
  isKnownName,
  knownOptions,
  nearMiss,
  type OptionNames,
  optionNamesOf,
} from "../lib/option-names.js";
import { nodeCertificateSource } from "../node/peer-certificate.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { emitTo } from "../verify/events.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";

/** Options of `fastify.requireAuth(options)`: per-hook requirements. */
export interface RouteAuthOptions {
  /** The token must have all of these scopes (an empty list: authenticated only). */
  scopes?: readonly string[];
  /** The token must have at least one of these scopes. */
  anyScope?: readonly string[];
  /** Let requests without credentials through, with `request.auth` null. */
  optional?: boolean;
}

/** The names of {@link RouteAuthOptions}. */
const ROUTE_AUTH_OPTION_NAMES: OptionNames<RouteAuthOptions> = {
  scopes: true,
  anyScope: true,
  optional: true,
};

/**
 * What m2m-kit reads from a route's `config` (Fastify's `FastifyContextConfig`, which other plugins
 * share: there only near-misses of these names are refused).
 */
export interface FastifyRouteAuthConfig {
  /** Protect this route; the token must have all of these scopes (`[]`: authenticated only). */
  scopes?: readonly string[];
  /** Protect this route; the token must have at least one of these scopes. */
  anyScope?: readonly string[];
  /** `false` opts this route out of `global: true`. */
  auth?: boolean;
}

/** The names of {@link FastifyRouteAuthConfig}. */
const ROUTE_CONFIG_NAMES: OptionNames<FastifyRouteAuthConfig> = { scopes: true, anyScope: true, auth: true };

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

export interface FastifyAuthOptions extends HttpAuthOptions {
  /** Protect every route registered after the plugin in its context. Default false. */
  global?: boolean;
  /** Throw failures into Fastify's error handling (with `statusCode` and `headers`) instead of answering. */
  passErrors?: boolean;
}

/** Plugin options: verifier options or `{ verifier }`, plus adapter options. */
export type M2MAuthPluginOptions = AuthConfig & FastifyAuthOptions;

/** The names of {@link FastifyAuthOptions} besides {@link HttpAuthOptions}'. */
const FASTIFY_OPTION_NAMES: OptionNames<FastifyAuthOptions, HttpAuthOptions> = {
  global: true,
  passErrors: true,
};

/** Fastify's own registration options, which it hands to the plugin with the plugin's. */
const REGISTER_OPTION_NAMES: OptionNames<RegisterOptions> = {
  prefix: true,
  logLevel: true,
  logSerializers: true,
};

const PLUGIN: AdapterNames = {
  call: "fastify.register(m2mAuth)",
  options: "fastify.register(m2mAuth)",
  names: [FASTIFY_OPTION_NAMES, REGISTER_OPTION_NAMES],
};

const RESOURCE_METADATA: AdapterNames = {
  call: "protectedResourceMetadata()",
  options: "protectedResourceMetadata() (second argument)",
  names: [FASTIFY_OPTION_NAMES, REGISTER_OPTION_NAMES],
};

/** Every method a metadata path answers: GET, HEAD and OPTIONS, and 405 for the others. */
const METADATA_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/** The documents each server serves, by path: one registration per path, the same document twice is one. */
const servedDocuments = new WeakMap<object, Map<string, string>>();

/**
 * Adds the metadata routes (RFC 9728 §3.1) to `fastify`, outside any `global: true` protection
 * (`config.auth: false`). A path that serves this document already is left as it is (the plugin's
 * `resourceMetadata` and `protectedResourceMetadata()` together); another document there is a
 * `TypeError`.
 */
function serveMetadata(fastify: FastifyInstance, endpoint: ResourceMetadataEndpoint): void {
  let served = servedDocuments.get(fastify.server);
  if (served === undefined) {
    served = new Map();
    servedDocuments.set(fastify.server, served);
  }
  for (const path of endpoint.paths) {
    const url = `${fastify.prefix}${path}`;
    const existing = served.get(url);
    if (existing === endpoint.body) continue;
    if (existing !== undefined) {
      throw new TypeError(`resourceMetadata: ${url} serves the metadata of another resource already`);
    }
    served.set(url, endpoint.body);
    fastify.route({
      method: METADATA_METHODS,
      url: path,
      exposeHeadRoute: false,
      config: { auth: false },
      handler(request, reply) {
        const answer = answerMetadataRequest(endpoint, request.method, path);
        if (answer === undefined) return reply.callNotFound();
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      },
    });
  }
}

/**
 * DPoP header values, method and the request's public URL (`publicUrl`; with `"host-header"`,
 * `request.protocol` and `request.host`, which honour `trustProxy`).
 */
function dpopParts(request: FastifyRequest, settings: FastifyAuthOptions) {
  const values = request.raw.headersDistinct?.dpop ?? [];
  return {
    dpop: values.flatMap((value) => value.split(",")).map((value) => value.trim()),
    method: request.method,
    url: () =>
      publicRequestUrl(
        settings.publicUrl,
        request.url,
        () => `${request.protocol}://${request.host}${request.url}`,
      ),
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

/** The plugin's state in the context it was registered in (a child context may register its own). */
const STATE = Symbol.for("m2m-kit.fastify.state");

interface PluginState {
  settings: FastifyAuthOptions;
  hook(route: RouteAuthOptions, where?: string): onRequestHookHandler;
  scopes(scopes: string[], anyOf: boolean): preHandlerHookHandler;
}

type WithState = { [STATE]?: PluginState };

/** The `Authorization` header; every value when the request carries more than one (raw headers). */
function authorizationOf(request: FastifyRequest): string | string[] | undefined {
  const first = request.headers.authorization;
  if (first === undefined) return undefined;
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") count++;
  }
  if (count < 2) return first;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === "authorization") values.push(raw[i + 1] as string);
  }
  return values;
}

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

const plugin: FastifyPluginAsync<M2MAuthPluginOptions> = async (fastify, registered) => {
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
