import type * as tls from "node:tls";
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
import { checkOptionNames } from "../lib/option-names.js";
import { TRANSPORT_INFO, type TransportInfo } from "../lib/transport.js";
import { NODE_FETCH_OPTION_NAMES, type NodeFetchOptions } from "./fetch-options.js";
import { checkEnvProxies, describeError, envProxies, proxySetting, safeOrigin } from "./proxy.js";
import { certificateFingerprint, tlsConnectOptions } from "./tls-options.js";

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
