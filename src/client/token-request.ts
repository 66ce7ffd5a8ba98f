import { TokenRequestError } from "../errors.js";
import {
  type FetchLike,
  fetchText,
  isProxyAuthenticationRefused,
  PROXY_AUTHENTICATION_REFUSED,
  ResponseTooLarge,
  TimeoutReached,
} from "../lib/http.js";
import { describeNetworkError } from "../lib/network-error.js";
import type { AuthMethod, ClientAuthentication } from "../oauth/client-auth.js";

/** Where token requests go and how the client authenticates there. */
export interface Endpoint {
  url: string;
  method: AuthMethod;
  auth: ClientAuthentication;
}

/** Everything one token request (RFC 6749 §4.4.2, RFC 8693 §2.1, RFC 7523 §2.1) is built from. */
export interface TokenRequestInput {
  endpoint: Endpoint;
  issuer: string | undefined;
  /** The grant's parameters, `grant_type` first (see `grants/`). */
  grant: ReadonlyArray<readonly [string, string]>;
  /** Parameters naming the target (see `targetParams`). */
  params: ReadonlyArray<readonly [string, string]>;
  /** Sent with every request (`extraParams`), after the target. */
  extraParams?: Readonly<Record<string, string>>;
  /** Extra request headers (e.g. a DPoP proof), set before client authentication. */
  headers?: HeadersInit;
  /** When the request is built, ms since the epoch (assertion `iat`). */
  now: number;
  /** The request's own signal (a client assertion source stops with it). */
  signal: AbortSignal;
}

/** A token request ready for `fetch`. */
export interface TokenRequest {
  url: string;
  init: RequestInit & { method: "POST"; headers: Headers; body: string };
}

/** Builds a token request: the grant's parameters, target, extra parameters, client authentication. */
export async function buildTokenRequest(input: TokenRequestInput): Promise<TokenRequest> {
  const body = new URLSearchParams();
  for (const [name, value] of input.grant) body.set(name, value);
  for (const [name, value] of input.params) body.set(name, value);
  for (const [name, value] of Object.entries(input.extraParams ?? {})) body.set(name, value);
  const headers = new Headers({
    accept: "application/json",
    "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
  });
  new Headers(input.headers).forEach((value, name) => {
    headers.set(name, value);
  });
  await input.endpoint.auth(body, headers, {
    tokenEndpoint: input.endpoint.url,
    issuer: input.issuer,
    now: input.now,
    signal: input.signal,
  });
  return { url: input.endpoint.url, init: { method: "POST", headers, body: body.toString() } };
}

/** Form parameters that carry a credential or a token: never shown, removed from what a server echoes. */
const CREDENTIAL_PARAMS = [
  "client_secret",
  "client_assertion",
  "assertion",
  "subject_token",
  "actor_token",
] as const;

/**
 * The credentials a token request carries: `client_secret`, `client_assertion`, a grant's `assertion`,
 * `subject_token` and `actor_token`, and the HTTP Basic credentials (the header value, and the secret
 * inside it, RFC 6749 §2.3.1).
 */
export function credentialsOf(request: TokenRequest): string[] {
  const body = new URLSearchParams(request.init.body);
  const found = CREDENTIAL_PARAMS.map((name) => body.get(name));
  const basic = /^Basic\s+(\S+)$/i.exec(request.init.headers.get("authorization") ?? "")?.[1];
  if (basic) {
    found.push(basic);
    try {
      const pair = atob(basic);
      const secret = pair.slice(pair.indexOf(":") + 1);
      found.push(secret);
      found.push(decodeURIComponent(secret.replace(/\+/g, " ")));
    } catch {
      // Not Base64 of a pair: the header value itself is redacted.
    }
  }
  return found.filter((value): value is string => typeof value === "string" && value !== "");
}

/**
 * Sends a token request with a timeout over headers and body. Rejects with `signal.reason` when the
 * signal aborts, else with a `TokenRequestError` that says what went wrong on the network.
 */
export async function sendTokenRequest(
  fetchImpl: FetchLike,
  request: TokenRequest,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ response: Response; text: string }> {
  try {
    return await fetchText(fetchImpl, request.url, request.init, timeoutMs, signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw networkError(error, request.url);
  }
}

function networkError(error: unknown, url: string): TokenRequestError {
  if (error instanceof TimeoutReached) {
    return new TokenRequestError(`token request timed out after ${error.timeoutMs} ms`, {
      transient: true,
      cause: error,
    });
  }
  if (error instanceof ResponseTooLarge) {
    return new TokenRequestError(`token endpoint ${error.message}`, { transient: false, cause: error });
  }
  if (isProxyAuthenticationRefused(error)) {
    return new TokenRequestError(`token request failed: ${PROXY_AUTHENTICATION_REFUSED}`, {
      transient: false,
      cause: error,
    });
  }
  return new TokenRequestError(`token request failed: ${describeNetworkError(error, url)}`, {
    transient: true,
    cause: error,
  });
}
