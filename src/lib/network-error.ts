import { TimeoutReached } from "./http.js";

/** What a runtime's network error may carry (Node and undici, Bun, Deno): read, never trusted. */
interface ErrorFields {
  code?: unknown;
  hostname?: unknown;
  address?: unknown;
  port?: unknown;
  status?: unknown;
  cause?: unknown;
  errors?: unknown;
}

const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate signed by an unknown CA",
  UNABLE_TO_GET_ISSUER_CERT: "certificate signed by an unknown CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate signed by an unknown CA",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_REVOKED: "certificate has been revoked",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate does not name this host",
  ERR_SSL_WRONG_VERSION_NUMBER: "the server does not speak TLS on this port",
};

/**
 * Says what went wrong on the network, for an error message: timeout, connection refused (host:port),
 * DNS name not found (host), TLS failure (which), connection reset, … . Reads the error and its
 * `cause` / `errors` chain generically (Node's undici `fetch` puts `ECONNREFUSED`, `ENOTFOUND` or an
 * OpenSSL code on `cause`); only codes, host names and ports are copied, never a message, so nothing
 * a server or a proxy URL carried can leak. `url` names the host when the error does not.
 */
export function describeNetworkError(error: unknown, url: string): string {
  if (error instanceof TimeoutReached) return `timed out after ${error.timeoutMs} ms`;
  const found = findCoded(error);
  const target = hostOf(url);
  if (!found) return `network error reaching ${target}`;
  const { code } = found;
  const where = (() => {
    const host = typeof found.address === "string" ? found.address : undefined;
    const port = typeof found.port === "number" || typeof found.port === "string" ? found.port : undefined;
    if (host === undefined) return target;
    return port === undefined ? host : `${host.includes(":") ? `[${host}]` : host}:${port}`;
  })();
  const hostname = typeof found.hostname === "string" ? found.hostname : target.replace(/:\d+$/, "");
  switch (code) {
    case "ECONNREFUSED":
    case "ConnectionRefused":
      return `connection refused by ${where} (${code})`;
    case "ENOTFOUND":
    case "EAI_NONAME":
    case "EAI_NODATA":
      return `DNS name not found: ${hostname} (${code})`;
    case "EAI_AGAIN":
    case "EAI_FAIL":
      return `DNS lookup failed for ${hostname} (${code})`;
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "ConnectionClosed":
      return `connection to ${where} closed by the other side (${code})`;
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return `connecting to ${where} timed out (${code})`;
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return `${where} stopped answering (${code})`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ENETDOWN":
      return `no route to ${where} (${code})`;
  }
  if (code === "ERR_PROXY" && typeof found.status === "number") {
    return `the proxy refused the tunnel to ${target} (${found.status})`;
  }
  const tls = TLS_REASONS[code];
  if (tls) return `TLS failure with ${target}: ${tls} (${code})`;
  if (/CERT|TLS|SSL|EPROTO/.test(code)) return `TLS failure with ${target} (${code})`;
  return `network error reaching ${target} (${code})`;
}

/** The innermost error of the chain that carries a string `code` (bounded: chains may loop). */
function findCoded(error: unknown): (ErrorFields & { code: string }) | undefined {
  let found: (ErrorFields & { code: string }) | undefined;
  const queue: unknown[] = [error];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift();
    if (typeof current !== "object" || current === null || seen.has(current)) continue;
    seen.add(current);
    const fields = current as ErrorFields;
    if (typeof fields.code === "string" && fields.code !== "") {
      found = fields as ErrorFields & { code: string };
    }
    if (fields.cause !== undefined) queue.push(fields.cause);
    // Happy eyeballs: one error per address tried (AggregateError).
    if (Array.isArray(fields.errors)) queue.push(...fields.errors.slice(0, 4));
  }
  return found;
}

/** `host:port` of a URL, without user info, path or query. */
function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
    return `${parsed.hostname}:${port}`;
  } catch {
    return "the server";
  }
}
