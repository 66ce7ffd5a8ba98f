import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import { type ChallengeSettings, failure, type HttpAuthError } from "./auth-error.js";
import type { ClientCertificateSource } from "./certificate-binding.js";
import { type HttpAuthOptions, httpAuthSettings } from "./config.js";
import type { DpopRequestParts } from "./dpop.js";

/** What a request carries, read by the adapter from its framework (`dpop`, `method`, `url` for DPoP). */
export interface RequestCredentials extends DpopRequestParts {
  /**
   * The `Authorization` header, if any; every value when the request carries it more than once
   * (Node keeps only the first in `headers`: adapters read the raw headers).
   */
  authorization: string | readonly string[] | null | undefined;
  /** Values of the `access_token` query parameter. */
  queryTokens?: readonly string[];
  /** Values of `access_token` in a form-encoded body (read only when `allowBodyToken` is on). */
  bodyTokens?: readonly string[];
  /** The TLS client certificate the request was made with (RFC 8705 §3), when the adapter can see it. */
  clientCertificate?: ClientCertificateSource;
  /** The request's `waitUntil` (Workers `ctx.waitUntil`), for key-set refreshes it does not wait for. */
  waitUntil?: WaitUntil;
}

/** The names of {@link RequestCredentials}. */
export const REQUEST_CREDENTIALS_NAMES: OptionNames<RequestCredentials> = {
  authorization: true,
  queryTokens: true,
  bodyTokens: true,
  clientCertificate: true,
  waitUntil: true,
  dpop: true,
  method: true,
  url: true,
};

/** RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Splits `Authorization` into its scheme (lower case) and the rest after 1*SP (RFC 9110 §11.4). */
export function splitCredentials(header: string): [scheme: string, rest: string] {
  const space = header.indexOf(" ");
  if (space === -1) return [header.toLowerCase(), ""];
  let start = space + 1;
  while (header.charCodeAt(start) === 32) start++;
  return [header.slice(0, space).toLowerCase(), header.slice(start)];
}

/**
 * Finds the bearer token of a request. Returns the token, `undefined` when there are no bearer
 * credentials (another scheme counts as none), or throws an {@link HttpAuthError}.
 *
 * @throws TypeError for an option or a request part it does not know (`allowQueryTokens`), or a bad
 *   option value, as the adapters refuse theirs.
 */
export function extractBearerToken(
  request: RequestCredentials,
  options: HttpAuthOptions = {},
): string | undefined {
  const settings = httpAuthSettings(options, "extractBearerToken()");
  checkRequestNames(request, "extractBearerToken()");
  const token = findBearerToken(request, settings);
  if (token !== undefined && !B64TOKEN.test(token)) throw malformedToken(settings);
  return token;
}

/** The request's names: a misspelt one (`clientCertifcate`) is never a part left unchecked. */
export function checkRequestNames(request: RequestCredentials, where: string): void {
  if (typeof request !== "object" || request === null)
    throw new TypeError(`${where}: the request must be an object`);
  checkOptionNames(request, [REQUEST_CREDENTIALS_NAMES], `${where} (the request)`);
}

export function malformedToken(settings: ChallengeSettings): HttpAuthError {
  return failure(400, "invalid_request", "the Authorization header has no valid bearer token", settings);
}

/** The one `Authorization` header (RFC 6750 §2: one credential per request; two fields are a 400). */
export function singleAuthorization(
  request: RequestCredentials,
  settings: ChallengeSettings,
): string | undefined {
  const header = request.authorization ?? undefined;
  if (typeof header === "string" || header === undefined) return header;
  if (header.length > 1) {
    throw failure(400, "invalid_request", "the request has more than one Authorization header", settings);
  }
  return header[0];
}

/**
 * {@link extractBearerToken} without the charset check of the token itself, which is deferred to the
 * failure path: a token that verifies is a JWS, whose characters are all b64token characters.
 */
export function findBearerToken(request: RequestCredentials, options: HttpAuthOptions): string | undefined {
  const header = singleAuthorization(request, options);
  const query = request.queryTokens ?? [];
  let fromHeader: string | undefined;
  if (header !== undefined && header !== "") {
    const [scheme, rest] = splitCredentials(header);
    if (scheme === "bearer") {
      if (rest === "") throw malformedToken(options);
      fromHeader = rest;
    } else if (scheme === "dpop") {
      throw failure(
        401,
        "invalid_token",
        "this API is not configured for DPoP-bound access tokens (dpop option)",
        options,
      );
    }
    // Any other scheme (Basic, …) is not a bearer credential: answered like no credentials.
  }
  // RFC 6750 §2: a client must not use more than one method in one request.
  const body = options.allowBodyToken ? (request.bodyTokens ?? []) : [];
  const sent = (fromHeader === undefined ? 0 : 1) + query.length + body.length;
  if (sent > 1 && (query.length > 0 || body.length > 0)) {
    throw failure(400, "invalid_request", "the access token was sent by more than one method", options);
  }
  if (fromHeader !== undefined) return fromHeader;
  const other = query.length === 1 && options.allowQueryToken ? query[0] : body[0];
  if (other !== undefined) {
    if (!B64TOKEN.test(other))
      throw failure(400, "invalid_request", "the access_token parameter is not valid", options);
    return other;
  }
  return undefined;
}
