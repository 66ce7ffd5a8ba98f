import { errorResponseBody, HttpAuthError } from "../http/bearer.js";
import { checkCertificateBindingOptions } from "../http/certificate-binding.js";
import {
  type AdapterNames,
  type AuthConfig,
  checkAdapterOptions,
  type HttpAuthOptions,
  resolveAuth,
  resolvePerConfiguration,
} from "../http/config.js";
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

/** The RFC 6750 response for an authentication failure. */
export function errorResponse(error: HttpAuthError, options: HttpAuthOptions = {}): Response {
  const { contentType, body } = errorResponseBody(error, options);
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
  const { waitUntil, ...rest } = options;
  const { verifier, settings } = resolveAuth(config, rest, AUTHENTICATE);
  return authenticateWith(request, verifier, settings, waitUntil);
}

async function authenticateWith(
  request: Request,
  verifier: Verifier,
  settings: HttpAuthOptions,
  waitUntil: WaitUntil | undefined,
): Promise<AuthResult | Response | undefined> {
  try {
    return await authenticateFetchRequest(request, verifier, settings, waitUntil);
  } catch (error) {
    if (!(error instanceof HttpAuthError)) throw error;
    try {
      return errorResponse(error, settings);
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

export { HttpAuthError } from "../http/bearer.js";
export type { AuthConfig, HttpAuthOptions } from "../http/config.js";
export type { AuthResult } from "../verify/verifier.js";
