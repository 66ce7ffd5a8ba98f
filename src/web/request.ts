import { authenticateChecked } from "../http/bearer.js";
import { checkCertificateBindingOptions, headerCertificateSource } from "../http/certificate-binding.js";
import type { HttpAuthOptions } from "../http/config.js";
import { publicRequestUrl } from "../http/public-url.js";
import type { WaitUntil } from "../lib/runtime.js";
import type { AuthResult, Verifier } from "../verify/verifier.js";

function queryTokens(request: Request): string[] {
  return request.url.includes("access_token") ? new URL(request.url).searchParams.getAll("access_token") : [];
}

/** `access_token` of a form-encoded body, read from a clone so that the handler can still read the body. */
async function bodyTokens(request: Request): Promise<string[]> {
  if (!request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")) return [];
  return new URLSearchParams(await request.clone().text()).getAll("access_token");
}

/** Authenticates a fetch-API `Request`; rejects with `HttpAuthError` (or an unexpected error). */
export async function authenticateFetchRequest(
  request: Request,
  verifier: Verifier,
  settings: HttpAuthOptions,
  waitUntil: WaitUntil | undefined,
): Promise<AuthResult | undefined> {
  const header = settings.clientCertificateHeader;
  if (header !== undefined || settings.requireCertificateBoundTokens !== undefined) {
    checkCertificateBindingOptions(settings);
  }
  return authenticateChecked(
    verifier,
    {
      // No TLS connection is visible here: only a header set by a trusted proxy (RFC 8705 §3).
      clientCertificate:
        header === undefined ? undefined : headerCertificateSource(request.headers.get(header)),
      authorization: request.headers.get("authorization"),
      queryTokens: queryTokens(request),
      bodyTokens: settings.allowBodyToken ? await bodyTokens(request) : [],
      waitUntil,
      // Headers joins repeated fields with ", "; a proof (a JWS) has no comma, so split them again.
      ...(verifier.dpop && {
        dpop: (request.headers.get("dpop") ?? "")
          .split(",")
          .map((value) => value.trim())
          .filter(Boolean),
        method: request.method,
        // `publicUrl`, or with "host-header" the Request's own URL (the runtime's, or the Host header's).
        url: () => publicRequestUrl(settings.publicUrl, request.url, () => request.url),
      }),
    },
    settings,
  );
}
