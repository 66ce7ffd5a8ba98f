import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { JWTPayload } from "jose";
import { errorResponseBody, HttpAuthError, reportRefusal } from "../http/auth-error.js";
import { authenticateNow, checkRequestScopes } from "../http/bearer.js";
import {
  type AdapterNames,
  type AuthConfig,
  type HttpAuthOptions,
  resolveAuth,
  resolveConfig,
} from "../http/config.js";
import { publicRequestUrl } from "../http/public-url.js";
import {
  answerMetadataRequest,
  type MetadataAnswer,
  resolveResourceMetadata,
  resourceMetadataOf,
} from "../http/resource-metadata.js";
import type { OptionNames } from "../lib/option-names.js";
import { nodeCertificateSource } from "../node/peer-certificate.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { emitTo } from "../verify/events.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";

declare global {
  namespace Express {
    interface Request {
      /**
       * Set by `requireAuth` when the request carries a valid access token (see {@link M2MKitAuth}
       * for what other middleware sets it to).
       */
      auth?: M2MKitAuth[keyof M2MKitAuth];
    }
    /**
     * What `req.auth` holds, by the middleware that sets it: `requireAuth`'s {@link AuthResult};
     * `m2m-kit/mcp` adds the MCP SDK's `AuthInfo` (set by `mcpRequireAuth`), so that `req.auth` is
     * typed by both this package and the SDK (which declares `auth?: AuthInfo` on Express's request).
     */
    interface M2MKitAuth {
      express: AuthResult;
    }
  }
}

/**
 * A request that `requireAuth` has authenticated, with typed claims. Under `strict`, Express's
 * route methods take handlers of a plain `Request`: wrap a handler that takes this type in
 * {@link authenticated}.
 */
export type AuthenticatedRequest<Claims extends JWTPayload = JWTPayload> = Request & {
  /** The verified token: claims typed as `Claims`, scopes, client id, expiry. */
  auth: AuthResult<Claims>;
};

/** A route handler of an authenticated request (see {@link authenticated}). */
export type AuthenticatedHandler<Claims extends JWTPayload = JWTPayload> = (
  req: AuthenticatedRequest<Claims>,
  res: Response,
  next: NextFunction,
) => unknown;

export interface ExpressAuthOptions extends HttpAuthOptions {
  /** Pass failures to `next(err)` (with `status`, `statusCode` and `headers`) instead of answering. */
  passErrors?: boolean;
}

/** The names of {@link ExpressAuthOptions} besides {@link HttpAuthOptions}'. */
const EXPRESS_OPTION_NAMES: OptionNames<ExpressAuthOptions, HttpAuthOptions> = { passErrors: true };

const REQUIRE_AUTH: AdapterNames = {
  call: "requireAuth()",
  options: "requireAuth() (second argument)",
  names: [EXPRESS_OPTION_NAMES],
};

const RESOURCE_METADATA: AdapterNames = {
  call: "protectedResourceMetadata()",
  options: "protectedResourceMetadata() (second argument)",
  names: [EXPRESS_OPTION_NAMES],
};

/** Where `requireAuth` leaves its options for `requireScopes` (realm, error body, passErrors). */
const SETTINGS = Symbol("m2m-kit.express.settings");

function queryTokens(req: Request): string[] {
  if (!req.url.includes("access_token")) return [];
  const value = (req.query as Record<string, unknown> | undefined)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function bodyTokens(req: Request, settings: ExpressAuthOptions): string[] {
  if (!settings.allowBodyToken || !req.is("application/x-www-form-urlencoded")) return [];
  const value = (req.body as Record<string, unknown> | undefined)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The request's URL by Express's own rules: `req.protocol`, and the host under `trust proxy`. */
function urlFromRequest(req: Request): string {
  const trust = req.app.get("trust proxy fn") as
    | ((address: string | undefined, hop: number) => boolean)
    | undefined;
  const forwarded = trust?.(req.socket.remoteAddress, 0)
    ? req.get("x-forwarded-host")?.split(",")[0]?.trim()
    : undefined;
  return `${req.protocol}://${forwarded || req.get("host")}${req.originalUrl}`;
}

/** DPoP header values, method and the request's public URL (`publicUrl`). */
function dpopParts(req: Request, settings: ExpressAuthOptions) {
  const values =
    req.headersDistinct?.dpop ?? (req.headers.dpop === undefined ? [] : [req.headers.dpop].flat());
  return {
    dpop: values.flatMap((value) => value.split(",")).map((value) => value.trim()),
    method: req.method,
    url: () => publicRequestUrl(settings.publicUrl, req.originalUrl, () => urlFromRequest(req)),
  };
}

/**
 * Answers a refusal, fail closed: never twice (`headersSent`, e.g. after a timeout middleware
 * answered), and an error while answering (an `errorBody` hook that throws) goes to `next(err)`
 * instead of escaping as an unhandled rejection.
 */
function fail(error: unknown, res: Response, next: NextFunction, options: ExpressAuthOptions): void {
  if (!(error instanceof HttpAuthError) || options.passErrors) {
    if (error instanceof HttpAuthError) reportRefusal(error, options);
    next(error);
    return;
  }
  if (res.headersSent) {
    // Another middleware answered already (a request timeout): the request ends here, refused.
    reportRefusal(error, options);
    emitTo(options.onEvent, {
      type: "response_failed",
      status: error.status,
      error: new Error("the response was already sent"),
    });
    return;
  }
  try {
    const { contentType, body } = errorResponseBody(error, options);
    res.status(error.status).set(error.headers).type(contentType).send(body);
  } catch (answerError) {
    emitTo(options.onEvent, { type: "response_failed", status: error.status, error: answerError });
    next(answerError);
  }
}

/** The `Authorization` header; every value when the request carries more than one (raw headers). */
function authorizationOf(req: Request): string | string[] | undefined {
  const first = req.headers.authorization;
  if (first === undefined) return undefined;
  const raw = req.rawHeaders;
  let values: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") {
      if (values === undefined) values = [];
      values.push(raw[i + 1] as string);
    }
  }
  return values !== undefined && values.length > 1 ? values : first;
}

/**
 * Sets `req.auth`, whose declared type depends on the packages of the program: where the MCP SDK's
 * `requireBearerAuth` is imported, Express's request declares it as the SDK's `AuthInfo`.
 */
function setAuth(req: Request, auth: AuthResult): void {
  (req as { auth?: unknown }).auth = auth;
}

/**
 * Express middleware (Express 4 and 5) that verifies the bearer token and sets `req.auth`.
 * Answers 400/401/403/503 per RFC 6750 itself, or with `passErrors` hands them to `next(err)`.
 *
 * @example
 * ```ts
 * app.use(requireAuth({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" }));
 * app.get("/data", requireScopes("read:data"), (req, res) => res.json({ client: req.auth?.clientId }));
 * ```
 */
export function requireAuth(config: AuthConfig | Verifier, options: ExpressAuthOptions = {}): RequestHandler {
  const { verifier, settings } = resolveAuth(config, options, REQUIRE_AUTH) as {
    verifier: Verifier;
    settings: ExpressAuthOptions;
  };
  // RFC 8705 §3: the client certificate of the TLS connection, or of the configured header.
  const certificateOf = nodeCertificateSource(settings);
  const metadata = resourceMetadataOf(settings);
  return function m2mRequireAuth(req: Request, res: Response, next: NextFunction): void {
    // RFC 9728: the metadata is public, also where every other path needs a token.
    const answer = metadata && answerMetadataRequest(metadata, req.method, req.path);
    if (answer !== undefined) {
      sendMetadata(res, answer);
      return;
    }
    // On res.locals (a plain object), not on req: a new key on the request object slows Express down.
    (res.locals as Record<symbol, unknown>)[SETTINGS] = settings;
    // A cached token is answered in the same tick: next() runs synchronously, without a promise.
    let outcome: AuthResult | undefined | Promise<AuthResult | undefined>;
    try {
      outcome = authenticateNow(
        verifier,
        {
          authorization: authorizationOf(req),
          queryTokens: queryTokens(req),
          bodyTokens: bodyTokens(req, settings),
          clientCertificate: certificateOf(req.socket, (name) => req.headers[name]),
          ...(verifier.dpop && dpopParts(req, settings)),
        },
        settings,
      );
    } catch (error) {
      fail(error, res, next, settings);
      return;
    }
    if (outcome instanceof Promise) {
      outcome
        .then(
          (auth) => {
            if (auth) setAuth(req, auth);
            next();
          },
          (error: unknown) => fail(error, res, next, settings),
        )
        .catch((error: unknown) => next(error));
      return;
    }
    if (outcome) setAuth(req, outcome);
    next();
  };
}

function scopesMiddleware(scopes: string[], anyOf: boolean, name: string): RequestHandler {
  if (scopes.length === 0 || !scopes.every((s) => typeof s === "string" && s !== "")) {
    throw new TypeError(`${name} needs at least one non-empty scope`);
  }
  checkScopeTokens(scopes, name);
  return function m2mRequireScopes(req: Request, res: Response, next: NextFunction): void {
    const options = ((res.locals as Record<symbol, unknown>)[SETTINGS] ?? {}) as ExpressAuthOptions;
    try {
      checkRequestScopes(req.auth, scopes, anyOf, options);
      next();
    } catch (error) {
      fail(error, res, next, options);
    }
  };
}

/** Route middleware: the token must have every one of `scopes` (after `requireAuth`). */
export function requireScopes(...scopes: string[]): RequestHandler {
  return scopesMiddleware(scopes, false, "requireScopes");
}

/** Route middleware: the token must have at least one of `scopes` (after `requireAuth`). */
export function requireAnyScope(...scopes: string[]): RequestHandler {
  return scopesMiddleware(scopes, true, "requireAnyScope");
}

/**
 * A typed route handler: `req.auth` is present, with `Claims` as its claims, and needs no cast.
 * Fail closed: a request that reaches it unauthenticated (a route without `requireAuth`, or
 * `optional: true` without credentials) is answered 401 and the handler does not run. A promise the
 * handler returns that rejects goes to `next(err)` (on Express 4 too).
 *
 * @example
 * ```ts
 * app.get("/orders", requireScopes("read:orders"), authenticated<{ tenant: string }>((req, res) => {
 *   res.json({ tenant: req.auth.claims.tenant, client: req.auth.clientId });
 * }));
 * ```
 */
export function authenticated<Claims extends JWTPayload = JWTPayload>(
  handler: AuthenticatedHandler<Claims>,
): RequestHandler {
  if (typeof handler !== "function") throw new TypeError("authenticated needs a handler function");
  return function m2mAuthenticated(req: Request, res: Response, next: NextFunction): void {
    if (req.auth === undefined) {
      const options = ((res.locals as Record<symbol, unknown>)[SETTINGS] ?? {}) as ExpressAuthOptions;
      try {
        checkRequestScopes(undefined, [], false, options);
      } catch (error) {
        fail(error, res, next, options);
      }
      return;
    }
    let result: unknown;
    try {
      result = handler(req as AuthenticatedRequest<Claims>, res, next);
    } catch (error) {
      next(error);
      return;
    }
    if (result instanceof Promise) result.catch((error: unknown) => next(error));
  };
}

function sendMetadata(res: Response, answer: MetadataAnswer): void {
  res.status(answer.status).set(answer.headers);
  res.end(answer.body);
}

/**
 * Serves this API's OAuth 2.0 Protected Resource Metadata (RFC 9728) at the application:
 * `GET /.well-known/oauth-protected-resource`, and the path-inserted form for an API under a path
 * (`/.well-known/oauth-protected-resource/v1` for `https://api.example.com/v1`, §3.1), without a
 * token; other paths go to `next()`. Takes what `requireAuth` takes (give both the same object and
 * they share one verifier); the document is built from it, with `resourceMetadata` (default `{}`)
 * for what the configuration does not say. Mount it before the routes, and where `requireAuth` is on
 * single routes: those cannot see the well-known request. GET and HEAD answer the JSON document
 * (`Cache-Control: public, max-age=3600`, `Access-Control-Allow-Origin: *`), OPTIONS a CORS
 * preflight, other methods 405.
 *
 * @throws TypeError at creation for a bad option, or when the resource cannot be derived (see
 * `ResourceMetadataOptions.resource`).
 * @example
 * ```ts
 * const auth = {
 *   issuer: "https://tenant.example.com/",
 *   audience: "https://api.example.com",
 *   resourceMetadata: { scopesSupported: ["read:data"], resourceName: "Data API" },
 * };
 * app.use(protectedResourceMetadata(auth));
 * app.get("/data", requireAuth(auth), requireScopes("read:data"), (req, res) => res.json({ ok: true }));
 * ```
 */
export function protectedResourceMetadata(
  config: AuthConfig | Verifier,
  options: ExpressAuthOptions = {},
): RequestHandler {
  const { verifier, settings } = resolveConfig(config, options, RESOURCE_METADATA);
  const endpoint = resolveResourceMetadata(verifier, settings, RESOURCE_METADATA.call);
  return function m2mProtectedResourceMetadata(req: Request, res: Response, next: NextFunction): void {
    const answer = answerMetadataRequest(endpoint, req.method, req.path);
    if (answer === undefined) next();
    else sendMetadata(res, answer);
  };
}

export { HttpAuthError } from "../http/auth-error.js";
export type { ProtectedResourceMetadata, ResourceMetadataOptions } from "../http/resource-metadata.js";
export type { AuthResult } from "../verify/verifier.js";
