import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import {
  Agent,
  type Dispatcher,
  EnvHttpProxyAgent,
  Request as UndiciRequest,
  type RequestInfo as UndiciRequestInfo,
  type RequestInit as UndiciRequestInit,
  fetch as undiciFetch,
} from "undici";
import type { FetchLike } from "../lib/http.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { TRANSPORT_INFO, type TransportInfo } from "../lib/transport.js";

/** PEM text, or its bytes. */
export type PemInput = string | Uint8Array;

/** Options of {@link createNodeFetch}. */
export interface NodeFetchOptions {
  /**
   * Where requests go:
   * - `"env"` (default): `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http URLs (and for https
   *   URLs when `HTTPS_PROXY` is unset), bypassed for hosts in `NO_PROXY`; lower-case names win over
   *   upper-case ones, as in curl. Read when the transport is made (`NO_PROXY` on every request).
   * - a proxy URL (`http://user:password@proxy.internal:3128`): every request goes through it except
   *   hosts in `noProxy`. Credentials in the URL are sent as `Proxy-Authorization: Basic` and never
   *   appear in an error message.
   * - `false`: no proxy, whatever the environment says.
   *
   * https URLs go through a `CONNECT` tunnel (TLS stays end to end); http URLs are sent to the proxy
   * as plain requests with the absolute URL, as curl does.
   */
  proxy?: "env" | string | URL | false;
  /**
   * Hosts that bypass the proxy, in `NO_PROXY` syntax (`localhost,.internal,10.0.0.1:8080`).
   * Default: the `NO_PROXY` environment variable with `proxy: "env"`, none with a proxy URL.
   */
  noProxy?: string;
  /**
   * Certificate authorities to trust (PEM, one or a list), added to the roots Node trusts by default:
   * its bundled roots and the certificates of `NODE_EXTRA_CA_CERTS`, on every supported Node. So a
   * private CA, a corporate CA given to every Node process, and public servers all verify. Also used
   * to verify an https proxy.
   */
  ca?: PemInput | PemInput[];
  /** Client certificate chain (PEM) for mutual TLS (RFC 8705); needs `key`. */
  cert?: PemInput;
  /** Private key (PEM) of `cert`. */
  key?: PemInput;
  /** Client certificate and key as PKCS#12 (`.p12`/`.pfx` bytes); instead of `cert` and `key`. */
  pfx?: Uint8Array;
  /** Passphrase of an encrypted `key` or of `pfx`. */
  passphrase?: string;
  /** Most connections kept open per origin. Default: no limit (undici's default). */
  connections?: number;
  /** How long an idle kept-alive connection stays open, in ms. Default 4 000 (undici's default). */
  keepAliveTimeoutMs?: number;
}

/** The names of {@link NodeFetchOptions}. */
export const NODE_FETCH_OPTION_NAMES: OptionNames<NodeFetchOptions> = {
  proxy: true,
  noProxy: true,
  ca: true,
  cert: true,
  key: true,
  pfx: true,
  passphrase: true,
  connections: true,
  keepAliveTimeoutMs: true,
};

/** A `fetch` on an undici connection pool, as returned by {@link createNodeFetch}. */
export interface NodeFetch extends FetchLike {
  /** Whether TLS connections present a client certificate (`cert`/`key` or `pfx` was given). */
  readonly presentsClientCertificate: boolean;
  /** The undici dispatcher behind this `fetch` (an `EnvHttpProxyAgent` or an `Agent`). */
  readonly dispatcher: Dispatcher;
  /** Closes idle connections and stops accepting requests; requests in flight finish. */
  close(): Promise<void>;
}

const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 4_000;

/**
 * A `fetch` for Node on undici: a keep-alive pool per origin, HTTP(S)_PROXY / NO_PROXY (or a proxy
 * URL), a private CA and a TLS client certificate. Pass it as `fetch` to `ClientCredentialsClient`
 * (with `authMethod: "tls_client_auth"` for RFC 8705 mutual TLS) and to `createVerifier`; close it
 * when done. Throws `TypeError` naming a bad option (a certificate that does not match its key, an
 * unreadable key, a proxy that is not an http(s) URL).
 *
 * @example
 * ```ts
 * import { createNodeFetch } from "m2m-kit/node";
 * const fetch = createNodeFetch({ ca: readFileSync("corp-ca.pem"), cert, key }); // proxy from the environment
 * const client = new ClientCredentialsClient({ issuer, clientId, fetch, authMethod: "tls_client_auth" });
 * // …
 * await client.close();
 * await fetch.close();
 * ```
 */
export function createNodeFetch(options: NodeFetchOptions = {}): NodeFetch {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [NODE_FETCH_OPTION_NAMES], "createNodeFetch()");
  const tlsOptions = tlsConnectOptions(options);
  const presentsClientCertificate = Boolean(options.pfx ?? options.cert);
  const pool = poolOptions(options);
  const proxy = proxySetting(options.proxy);
  if (options.noProxy !== undefined && typeof options.noProxy !== "string") {
    throw new TypeError("noProxy must be a string (NO_PROXY syntax)");
  }

  let dispatcher: Dispatcher;
  let proxyOrigins: string[] = [];
  if (proxy === false) {
    dispatcher = new Agent({ ...pool, connect: tlsOptions });
  } else {
    const proxyTls: tls.ConnectionOptions = tlsOptions.ca ? { ca: tlsOptions.ca } : {};
    const shared = {
      ...pool,
      connect: tlsOptions, // direct connections (no proxy, or NO_PROXY hosts)
      requestTls: tlsOptions, // TLS to the server, inside the CONNECT tunnel
      proxyTls, // TLS to an https proxy
      proxyTunnel: false, // http URLs: a plain request to the proxy, as curl sends it
    };
    if (proxy === "env") {
      checkEnvProxies();
      dispatcher = new EnvHttpProxyAgent({
        ...shared,
        ...(options.noProxy !== undefined && { noProxy: options.noProxy }),
      });
      proxyOrigins = [...new Set(envProxies().map(safeOrigin))];
    } else {
      const uri = proxy.href;
      dispatcher = new EnvHttpProxyAgent({
        ...shared,
        httpProxy: uri,
        httpsProxy: uri,
        noProxy: options.noProxy ?? "",
      });
      proxyOrigins = [safeOrigin(uri)];
    }
  }

  const nodeFetch = async function nodeFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    try {
      const response = await undiciFetch(toUndiciInput(input), {
        ...(init as UndiciRequestInit),
        dispatcher,
      });
      return response as unknown as Response;
    } catch (error) {
      throw describeError(
        error,
        init?.signal ?? (input instanceof Request ? input.signal : undefined),
        proxyOrigins,
      );
    }
  };
  const clientCertificate = certificateFingerprint(tlsOptions);
  const info: TransportInfo = Object.freeze(
    clientCertificate === undefined
      ? { presentsClientCertificate }
      : { presentsClientCertificate, clientCertificate },
  );
  Object.defineProperties(nodeFetch, {
    presentsClientCertificate: { value: presentsClientCertificate, enumerable: true },
    // Not enumerable, and a getter, so that not even util.inspect with showHidden prints it: the
    // dispatcher holds the proxy credentials and the TLS key.
    dispatcher: { get: () => dispatcher, enumerable: false },
    close: { value: () => dispatcher.close(), enumerable: false },
    [TRANSPORT_INFO]: { value: info, enumerable: false },
  });
  return nodeFetch as unknown as NodeFetch;
}

function tlsConnectOptions(options: NodeFetchOptions): tls.ConnectionOptions {
  const result: tls.ConnectionOptions = {};
  if (options.ca !== undefined) {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca];
    if (list.length === 0) throw new TypeError("ca must be a PEM certificate or a non-empty list of them");
    const pems = list.map((entry, index) => {
      const text = pemText(entry, Array.isArray(options.ca) ? `ca[${index}]` : "ca");
      if (!text.includes("-----BEGIN CERTIFICATE-----")) {
        throw new TypeError(`${Array.isArray(options.ca) ? `ca[${index}]` : "ca"} is not a PEM certificate`);
      }
      return text;
    });
    result.ca = [...defaultRoots(), ...pems];
  }
  if (options.pfx !== undefined) {
    if (!(options.pfx instanceof Uint8Array)) throw new TypeError("pfx must be the bytes of a PKCS#12 file");
    if (options.cert !== undefined || options.key !== undefined) {
      throw new TypeError("pfx replaces cert and key; give one or the other");
    }
    result.pfx = Buffer.from(options.pfx);
  }
  if (options.cert !== undefined || options.key !== undefined) {
    if (options.cert === undefined) throw new TypeError("key needs cert (the client certificate)");
    if (options.key === undefined) throw new TypeError("cert needs key (its private key)");
    const cert = pemText(options.cert, "cert");
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new TypeError("cert is not a PEM certificate");
    const key = pemText(options.key, "key");
    if (!/-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/.test(key))
      throw new TypeError("key is not a PEM private key");
    result.cert = cert;
    result.key = key;
  }
  if (options.passphrase !== undefined) {
    if (typeof options.passphrase !== "string") throw new TypeError("passphrase must be a string");
    result.passphrase = options.passphrase;
  }
  if (result.cert || result.pfx) {
    // Load once now, so a wrong passphrase or a key that does not fit the certificate is a
    // construction error rather than a failed handshake later. OpenSSL's reason names no secret.
    try {
      tls.createSecureContext({
        cert: result.cert,
        key: result.key,
        pfx: result.pfx,
        passphrase: result.passphrase,
      });
    } catch (error) {
      const option = result.pfx ? "pfx" : "cert/key";
      throw new TypeError(`${option} could not be loaded: ${(error as Error).message}`);
    }
  }
  return result;
}

/** SHA-256 of the client certificate (DER), or of the PKCS#12 bytes: part of the client's cache key. */
function certificateFingerprint(options: tls.ConnectionOptions): string | undefined {
  if (options.pfx !== undefined)
    return createHash("sha256")
      .update(options.pfx as Buffer)
      .digest("base64url");
  if (typeof options.cert !== "string") return undefined;
  try {
    return createHash("sha256").update(new X509Certificate(options.cert).raw).digest("base64url");
  } catch {
    return createHash("sha256").update(options.cert).digest("base64url");
  }
}

function pemText(value: unknown, option: string): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  throw new TypeError(`${option} must be PEM text (a string or its bytes)`);
}

/**
 * The roots Node trusts when no `ca` is given, so that `ca` adds to them instead of replacing them:
 * the bundled roots and the certificates of the file named by `NODE_EXTRA_CA_CERTS`. Node 22.15+
 * and 23.10+ list both through `tls.getCACertificates("default")`; on older versions
 * `tls.rootCertificates` holds the bundled roots only, and the file is read here, once, as Node reads
 * it once at start.
 */
function defaultRoots(): readonly string[] {
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (getCACertificates) return getCACertificates("default");
  extraRoots ??= readExtraCaCertificates(process.env.NODE_EXTRA_CA_CERTS);
  return [...tls.rootCertificates, ...extraRoots];
}

let extraRoots: readonly string[] | undefined;

/**
 * The certificates of a NODE_EXTRA_CA_CERTS file. A file or certificate that cannot be read is left
 * out, as Node leaves it out (Node has already printed its warning at start).
 */
function readExtraCaCertificates(file: string | undefined): readonly string[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
}

function poolOptions(options: NodeFetchOptions): { connections?: number; keepAliveTimeout: number } {
  const result: { connections?: number; keepAliveTimeout: number } = {
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  };
  if (options.connections !== undefined) {
    if (!Number.isInteger(options.connections) || options.connections < 1) {
      throw new TypeError("connections must be a positive integer");
    }
    result.connections = options.connections;
  }
  if (options.keepAliveTimeoutMs !== undefined) {
    const ms = options.keepAliveTimeoutMs;
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError("keepAliveTimeoutMs must be a positive number of milliseconds");
    }
    result.keepAliveTimeout = ms;
  }
  return result;
}

function proxySetting(value: NodeFetchOptions["proxy"]): "env" | false | URL {
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

function envProxies(): string[] {
  const env = process.env;
  return [env.https_proxy ?? env.HTTPS_PROXY, env.http_proxy ?? env.HTTP_PROXY].filter(
    (value): value is string => typeof value === "string" && value !== "",
  );
}

/**
 * A proxy variable undici cannot parse is a `TypeError` naming the variable; never its value, which
 * may hold the proxy password.
 */
function checkEnvProxies(): void {
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
function safeOrigin(uri: string): string {
  try {
    return new URL(uri).origin;
  } catch {
    return "the proxy";
  }
}

function toUndiciInput(input: string | URL | Request): UndiciRequestInfo {
  if (typeof input === "string" || input instanceof URL || input instanceof UndiciRequest) return input;
  if (typeof Request !== "undefined" && input instanceof Request) {
    // Node's global Request is another undici copy's class; rebuild it for this one.
    const hasBody = input.body !== null && input.method !== "GET" && input.method !== "HEAD";
    return new UndiciRequest(input.url, {
      method: input.method,
      headers: [...input.headers],
      body: hasBody ? input.body : null,
      redirect: input.redirect,
      signal: input.signal,
      ...(hasBody && { duplex: "half" }),
    } as UndiciRequestInit);
  }
  return String(input);
}

/**
 * undici's errors say what happened but not always where; a refused proxy tunnel is spelt out
 * (without the proxy's credentials). An abort passes through untouched, as `fetch` rejects with
 * the signal's reason.
 */
function describeError(error: unknown, signal: AbortSignal | null | undefined, proxies: string[]): unknown {
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
