import {
  type AuthConfig,
  authenticateRequest,
  errorResponseBody,
  HttpAuthError,
  type HttpAuthOptions,
  resolveAuth,
} from "../http/bearer.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";

function queryTokens(request: Request): string[] {
  return request.url.includes("access_token") ? new URL(request.url).searchParams.getAll("access_token") : [];
}

/** `access_token` of a form-encoded body, read from a clone so that the handler can still read the body. */
async function bodyTokens(request: Request): Promise<string[]> {
  if (!request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")) return [];
  return new URLSearchParams(await request.clone().text()).getAll("access_token");
}

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
 * no credentials), or with a ready `Response` (400/401/403/503, RFC 6750) to return as it is.
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
  options: HttpAuthOptions = {},
): Promise<AuthResult | Response | undefined> {
  const { verifier, settings } = resolveAuth(config, options);
  try {
    return await authenticateRequest(
      verifier,
      {
        authorization: request.headers.get("authorization"),
        queryTokens: queryTokens(request),
        bodyTokens: settings.allowBodyToken ? await bodyTokens(request) : [],
        // Headers joins repeated fields with ", "; a proof (a JWS) has no comma, so split them again.
        ...(verifier.dpop && {
          dpop: (request.headers.get("dpop") ?? "")
            .split(",")
            .map((value) => value.trim())
            .filter(Boolean),
          method: request.method,
          url: () => request.url,
        }),
      },
      settings,
    );
  } catch (error) {
    if (error instanceof HttpAuthError) return errorResponse(error, settings);
    throw error;
  }
}

/**
 * Wraps a `(request, auth, ...rest) => Response` handler (Workers, Deno.serve, Bun.serve, Next.js route
 * handlers): the handler runs only for authenticated requests.
 *
 * @example
 * ```ts
 * export const GET = withAuth((request, auth) => Response.json({ client: auth.clientId }), verifier);
 * ```
 */
export function withAuth<Rest extends unknown[]>(
  handler: (request: Request, auth: AuthResult, ...rest: Rest) => Response | Promise<Response>,
  config: AuthConfig | Verifier,
  options: HttpAuthOptions = {},
): (request: Request, ...rest: Rest) => Promise<Response> {
  const { verifier, settings } = resolveAuth(config, options);
  if (settings.optional) throw new TypeError("withAuth does not take optional: true; use authenticate()");
  return async function m2mWithAuth(request: Request, ...rest: Rest): Promise<Response> {
    const auth = await authenticate(request, verifier, settings);
    if (auth instanceof Response) return auth;
    return handler(request, auth as AuthResult, ...rest);
  };
}

export type { AuthConfig, HttpAuthOptions } from "../http/bearer.js";
export { HttpAuthError } from "../http/bearer.js";
export type { AuthResult } from "../verify/verifier.js";
