import { errorResponseBody, HttpAuthError } from "../http/auth-error.js";
import { checkCertificateBindingOptions } from "../http/certificate-binding.js";
import {
  type AdapterNames,
  type AuthConfig,
  checkAdapterOptions,
  type HttpAuthOptions,
  httpAuthSettings,
  resolveAuth,
  resolveConfig,
  resolvePerConfiguration,
} from "../http/config.js";
import {
  answerMetadataRequest,
  type ResourceMetadataEndpoint,
  resolveResourceMetadata,
  resourceMetadataOf,
  WELL_KNOWN_RESOURCE_METADATA,
} from "../http/resource-metadata.js";
import type { OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import { emitTo } from "../verify/events.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";
import { authenticateFetchRequest } from "./request.js";

/** Options of {@link authenticate} beside {@link HttpAuthOptions}. */
export interface AuthenticateOptions extends HttpAuthOptions {
  /** The request's `waitUntil` (a Worker's `ctx.waitUntil`), for key refreshes it does not wait for. */
  waitUntil?: WaitUntil;
}

/** The names of {@link AuthenticateOptions} besides {@link HttpAuthOptions}'. */
const AUTHENTICATE_OPTION_NAMES: OptionNames<AuthenticateOptions, HttpAuthOptions> = { waitUntil: true };

const AUTHENTICATE: AdapterNames = {
  call: "authenticate()",
  options: "authenticate() (third argument)",
  names: [AUTHENTICATE_OPTION_NAMES],
};

const WITH_AUTH: AdapterNames = {
  call: "withAuth()",
  options: "withAuth() (third argument)",
  names: [],
};

const RESOURCE_METADATA: AdapterNames = {
  call: "protectedResourceMetadata()",
  options: "protectedResourceMetadata() (second argument)",
  names: [AUTHENTICATE_OPTION_NAMES],
};

/** The answer to a request for the metadata (RFC 9728), or `undefined` for any other request. */
function metadataResponse(endpoint: ResourceMetadataEndpoint, request: Request): Response | undefined {
  // The URL is parsed only when it may be a metadata URL.
  if (!request.url.includes(WELL_KNOWN_RESOURCE_METADATA)) return undefined;
  const answer = answerMetadataRequest(endpoint, request.method, new URL(request.url).pathname);
  return answer && new Response(answer.body ?? null, { status: answer.status, headers: answer.headers });
}

/**
 * The RFC 6750 response for an authentication failure.
 *
 * @throws TypeError for an option it does not know, or a bad option value.
 */
export function errorResponse(error: HttpAuthError, options: HttpAuthOptions = {}): Response {
  return responseOf(error, httpAuthSettings(options, "errorResponse()"));
}

/** {@link errorResponse} with an adapter's settings (checked at creation). */
function responseOf(error: HttpAuthError, settings: HttpAuthOptions): Response {
  const { contentType, body } = errorResponseBody(error, settings);
  return new Response(body, {
    status: error.status,
    headers: { ...error.headers, "content-type": contentType },
  });
}

/**
 * Authenticates a fetch-API `Request`: resolves with the auth result, with `undefined` (optional auth,
 * no credentials), or with a ready `Response` (400/401/403/503, RFC 6750) to return as it is. Fail
 * closed: if the refusal cannot be built (an `errorBody` hook that throws), it rejects with that
 * error (after a `response_failed` event), never with an auth result.
 *
 * @example
 * ```ts
 * const auth = await authenticate(request, verifier);
 * if (auth instanceof Response) return auth;
 * ```
 */
export async function authenticate(
  request: Request,
  config: AuthConfig | Verifier,
  options: AuthenticateOptions = {},
): Promise<AuthResult | Response | undefined> {
  const { waitUntil, ...rest } = checkAdapterOptions(options, AUTHENTICATE);
  const { verifier, settings } = resolveAuth(config, rest, AUTHENTICATE);
  return authenticateWith(request, verifier, settings, waitUntil);
}

async function authenticateWith(
  request: Request,
  verifier: Verifier,
  settings: HttpAuthOptions,
  waitUntil: WaitUntil | undefined,
): Promise<AuthResult | Response | undefined> {
  // RFC 9728: the metadata is public, also where every other path needs a token.
  const metadata = resourceMetadataOf(settings);
  const answer = metadata && metadataResponse(metadata, request);
  if (answer !== undefined) return answer;
  try {
    return await authenticateFetchRequest(request, verifier, settings, waitUntil);
  } catch (error) {
    if (!(error instanceof HttpAuthError)) throw error;
    try {
      return responseOf(error, settings);
    } catch (answerError) {
      // Fail closed: the handler never runs; the error goes to the runtime's error handling (a 500).
      emitTo(settings.onEvent, { type: "response_failed", status: error.status, error: answerError });
      throw answerError;
    }
  }
}

/** The `waitUntil` of a Worker's `(request, env, ctx)` call, if there is one. */
function workerWaitUntil(rest: readonly unknown[]): WaitUntil | undefined {
  const ctx = rest[1] as { waitUntil?: unknown } | null | undefined;
  if (typeof ctx !== "object" || ctx === null || typeof ctx.waitUntil !== "function") return undefined;
  return (promise) => (ctx.waitUntil as WaitUntil).call(ctx, promise);
}

/**
 * Wraps a `(request, auth, ...rest) => Response` handler (Workers, Deno.serve, Bun.serve, Next.js route
 * handlers): the handler runs only for authenticated requests.
 *
 * `config` may be a function of the request and the handler's other arguments (a Worker's `env`),
 * for configuration read from bindings at request time; one verifier is kept per distinct
 * configuration it returns. On a Worker (`(request, env, ctx)`), key refreshes go to `ctx.waitUntil`.
 *
 * @example
 * ```ts
 * export const GET = withAuth((request, auth) => Response.json({ client: auth.clientId }), verifier);
 * // Workers: options from bindings
 * export default {
 *   fetch: withAuth(handler, (request, env: Env) => ({ issuer: env.ISSUER, audience: env.AUDIENCE })),
 * };
 * ```
 */
export function withAuth<Rest extends unknown[]>(
  handler: (request: Request, auth: AuthResult, ...rest: Rest) => Response | Promise<Response>,
  config: AuthConfig | Verifier | ((request: Request, ...rest: Rest) => AuthConfig | Verifier),
  options: HttpAuthOptions = {},
): (request: Request, ...rest: Rest) => Promise<Response> {
  const noOptional = (settings: HttpAuthOptions) => {
    if (settings.optional) throw new TypeError("withAuth does not take optional: true; use authenticate()");
  };
  if (typeof config === "function") {
    checkAdapterOptions(options, WITH_AUTH);
    noOptional(options);
    const resolve = resolvePerConfiguration(WITH_AUTH);
    return async function m2mWithAuth(request: Request, ...rest: Rest): Promise<Response> {
      const { verifier, settings } = resolve(config(request, ...rest), options);
      noOptional(settings);
      const auth = await authenticateWith(request, verifier, settings, workerWaitUntil(rest));
      if (auth instanceof Response) return auth;
      return handler(request, auth as AuthResult, ...rest);
    };
  }
  const { verifier, settings } = resolveAuth(config, options, WITH_AUTH);
  noOptional(settings);
  checkCertificateBindingOptions(settings);
  return async function m2mWithAuth(request: Request, ...rest: Rest): Promise<Response> {
    const auth = await authenticateWith(request, verifier, settings, workerWaitUntil(rest));
    if (auth instanceof Response) return auth;
    return handler(request, auth as AuthResult, ...rest);
  };
}

/**
 * Serves this API's OAuth 2.0 Protected Resource Metadata (RFC 9728) in a fetch-API server: returns
 * the `Response` for `GET /.well-known/oauth-protected-resource`, and for the path-inserted form of
 * an API under a path (`/.well-known/oauth-protected-resource/v1` for `https://api.example.com/v1`,
 * §3.1), and `undefined` for every other request. Takes what `withAuth` and `authenticate` take; the
 * document is built from it, with `resourceMetadata` (default `{}`) for what the configuration does
 * not say. `withAuth` and `authenticate` with `resourceMetadata` answer these requests themselves
 * when they see them; this is for the routes they do not see (a Next.js route file, a router that
 * calls `authenticate` for some paths only). GET and HEAD answer the JSON document
 * (`Cache-Control: public, max-age=3600`, `Access-Control-Allow-Origin: *`), OPTIONS a CORS
 * preflight, other methods 405.
 *
 * @throws TypeError at creation for a bad option, or when the resource cannot be derived (see
 * `ResourceMetadataOptions.resource`).
 * @example
 * ```ts
 * const auth = { issuer: "https://tenant.example.com/", audience: "https://api.example.com", resourceMetadata: {} };
 * const metadata = protectedResourceMetadata(auth);
 * const api = withAuth((request, token) => Response.json({ client: token.clientId }), auth);
 * Deno.serve((request) => metadata(request) ?? api(request));
 * ```
 */
export function protectedResourceMetadata(
  config: AuthConfig | Verifier,
  options: AuthenticateOptions = {},
): (request: Request) => Response | undefined {
  const { verifier, settings } = resolveConfig(config, options, RESOURCE_METADATA);
  const endpoint = resolveResourceMetadata(verifier, settings, RESOURCE_METADATA.call);
  return function m2mProtectedResourceMetadata(request: Request): Response | undefined {
    return metadataResponse(endpoint, request);
  };
}

export { HttpAuthError } from "../http/auth-error.js";
export type { AuthConfig, HttpAuthOptions } from "../http/config.js";
export type { ProtectedResourceMetadata, ResourceMetadataOptions } from "../http/resource-metadata.js";
export type { KeyValueStore } from "../verify/key-value-store.js";
export type { AuthResult } from "../verify/verifier.js";
export { type CacheApiStoreOptions, cacheApiStore } from "./cache-api-store.js";
