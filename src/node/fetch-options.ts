import type { OptionNames } from "../lib/option-names.js";

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
