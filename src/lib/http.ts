/** The subset of `fetch` m2m-kit calls; any WHATWG-compatible implementation fits. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Largest response body read from an authorization server (token, discovery, JWKS). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export class TimeoutReached extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

export class ResponseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`response body larger than ${limit} bytes`);
  }
}

/**
 * `fetch` with a timeout covering the headers and the whole body. Rejects with `TimeoutReached`,
 * with `signal.reason` when the caller's signal aborts, or with the network error.
 */
export async function fetchText(
  fetchImpl: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ response: Response; text: string }> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new TimeoutReached(timeoutMs)), timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  try {
    const response = await fetchImpl(url, { ...init, signal: combined, redirect: "manual" });
    const text = await readBounded(response, MAX_RESPONSE_BYTES);
    return { response, text };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.signal.aborted) throw timeout.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The body of `response` as text; rejects with `ResponseTooLarge` past `limit` bytes. */
export async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length"));
  if (declared > limit) {
    await response.body?.cancel();
    throw new ResponseTooLarge(limit);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ResponseTooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Parses JSON, returning `undefined` instead of throwing. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The members of a JSON object that are not `null`: an optional member sent as `null` is absent. */
export function withoutNulls(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) if (value !== null) out[name] = value;
  return out;
}

/** Loopback hosts may use plain `http:`; everything else needs `https:` unless explicitly allowed. */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname === "[::1]" ||
    /^127(?:\.\d{1,3}){3}$/.test(hostname) ||
    hostname.endsWith(".localhost")
  );
}

/** Validates a URL option: parseable, https (or http on loopback, or when allowed), no fragment. */
export function checkUrl(value: unknown, option: string, allowInsecureHttp: boolean): URL {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${option} must be a non-empty URL string`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${option} is not a valid URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`${option} must be an https: URL`);
  }
  if (url.protocol === "http:" && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw new TypeError(
      `${option} uses http: on a non-loopback host; use https: or set allowInsecureHttp: true`,
    );
  }
  if (url.hash) throw new TypeError(`${option} must not have a fragment`);
  return url;
}

/**
 * Refuses a URL with user info (`https://user:password@host/`): a `TypeError` naming the option and
 * never the value, so the password is neither echoed in the error nor later in errors and events
 * that name the URL. `instead` says where the credentials go.
 */
export function withoutCredentials(url: URL, option: string, instead?: string): URL {
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(
      `${option} must not contain credentials (user:password@)${instead === undefined ? "" : `; ${instead}`}`,
    );
  }
  return url;
}

/** {@link checkUrl} and {@link withoutCredentials}: a URL option that must carry no credentials. */
export function checkPlainUrl(value: unknown, option: string, allowInsecureHttp: boolean): URL {
  return withoutCredentials(checkUrl(value, option, allowInsecureHttp), option);
}

/** What m2m-kit says of a forward proxy's 407 (RFC 9110 §15.5.8); the proxy's credentials never appear. */
export const PROXY_AUTHENTICATION_REFUSED =
  "the proxy refused authentication (407 Proxy Authentication Required); check the proxy credentials";

/**
 * Whether a `fetch` rejection is a forward proxy refusing its credentials (a `CONNECT` tunnel answered
 * 407): the `ERR_PROXY` cause of `m2m-kit/node`, or undici's own `Proxy response (407)` when the
 * user's `fetch` has an undici `ProxyAgent`. Trying again with the same credentials cannot succeed.
 */
export function isProxyAuthenticationRefused(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 6; depth++) {
    const { code, status } = cause as { code?: unknown; status?: unknown };
    if (code === "ERR_PROXY" && status === 407) return true;
    if (/Proxy response \(407\)/.test(cause.message)) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
