import type { NodeFetchOptions } from "./fetch-options.js";

export function proxySetting(value: NodeFetchOptions["proxy"]): "env" | false | URL {
  if (value === undefined || value === "env") return "env";
  if (value === false) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // The value may hold credentials: never echo it.
    throw new TypeError('proxy must be "env", false or an http(s) proxy URL');
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    // Named only when it is a scheme: in "user:password@host" (no scheme) it is the user name.
    const named = OTHER_PROXY_SCHEMES.has(url.protocol) ? `, not ${url.protocol}` : "";
    throw new TypeError(`proxy must be an http: or https: URL${named}`);
  }
  return url;
}

/** Proxy schemes undici does not speak, named in the error (any other "scheme" may be a user name). */
const OTHER_PROXY_SCHEMES = new Set([
  "socks:",
  "socks4:",
  "socks4a:",
  "socks5:",
  "socks5h:",
  "ftp:",
  "file:",
]);

export function envProxies(): string[] {
  const env = process.env;
  return [env.https_proxy ?? env.HTTPS_PROXY, env.http_proxy ?? env.HTTP_PROXY].filter(
    (value): value is string => typeof value === "string" && value !== "",
  );
}

/**
 * A proxy variable undici cannot parse is a `TypeError` naming the variable; never its value, which
 * may hold the proxy password.
 */
export function checkEnvProxies(): void {
  for (const [lower, upper] of [
    ["https_proxy", "HTTPS_PROXY"],
    ["http_proxy", "HTTP_PROXY"],
  ] as const) {
    // As undici reads them: the lower-case name wins when it is set.
    const name = process.env[lower] !== undefined ? lower : upper;
    const value = process.env[name];
    if (value === undefined || value === "") continue;
    // "user:password@host:3128" parses with "user:" as its scheme: refused here, never echoed.
    const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
    if (protocol !== "http:" && protocol !== "https:") {
      throw new TypeError(`${name} is not a valid proxy URL (http://host:port)`);
    }
  }
}

/** A proxy's scheme, host and port, without credentials, for messages. */
export function safeOrigin(uri: string): string {
  try {
    return new URL(uri).origin;
  } catch {
    return "the proxy";
  }
}

/**
 * undici's errors say what happened but not always where; a refused proxy tunnel is spelt out
 * (without the proxy's credentials). An abort passes through untouched, as `fetch` rejects with
 * the signal's reason.
 */
export function describeError(
  error: unknown,
  signal: AbortSignal | null | undefined,
  proxies: string[],
): unknown {
  if (signal?.aborted) return error;
  let status: string | undefined;
  // undici nests the proxy's answer a level or two down (TypeError → DOMException → RequestAbortedError).
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    status =
      /Proxy response \((\d{3})\)/.exec(cause.message)?.[1] ??
      (/\(407\)/.test(cause.message) ? "407" : undefined);
    if (status) break;
    cause = (cause as { cause?: unknown }).cause;
  }
  if (status === undefined) return error;
  const where = proxies.length === 1 ? `proxy ${proxies[0]}` : "the proxy";
  const reason =
    status === "407"
      ? `${where} refused the credentials (407 Proxy Authentication Required)`
      : `${where} refused the tunnel (${status})`;
  return new TypeError("fetch failed", {
    cause: Object.assign(new Error(reason), { code: "ERR_PROXY", status: Number(status) }),
  });
}
