import { createNodeFetch, type NodeFetch } from "../node/index.js";
import { type OptionRow, readSecretFile, str, UsageError, type Values } from "./command.js";

/**
 * Options of the commands that talk to a server (issuer, token endpoint, JWKS). Requests go through
 * `createNodeFetch` of m2m-kit/node: proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY unless --proxy.
 */
export const TRANSPORT: OptionRow[] = [
  {
    name: "ca",
    type: "string",
    value: "FILE",
    help: "PEM certificate(s) of a private CA to trust, in addition to Node's roots",
  },
  {
    name: "cert",
    type: "string",
    value: "FILE",
    help: "PEM client certificate for mutual TLS (RFC 8705); needs --key",
  },
  {
    name: "key",
    type: "string",
    value: "FILE",
    help: "PEM private key of --cert",
    secret: true,
  },
  {
    name: "proxy",
    type: "string",
    value: "URL",
    help: "forward proxy for every request, http://user:password@host:port (default: HTTPS_PROXY, HTTP_PROXY, NO_PROXY from the environment)",
    secret: true,
  },
  {
    name: "allow-insecure-http",
    type: "boolean",
    help: "accept http: URLs on hosts other than loopback (never in production)",
  },
];

/**
 * The transport of `token` and `verify`: m2m-kit/node's undici `fetch` with the proxy (from the
 * environment unless `--proxy`), the private CA and the client certificate of the options.
 */
export function transportFrom(values: Values): NodeFetch {
  const read = (name: string) => {
    const path = str(values, name);
    return path === undefined ? undefined : readSecretFile(path, `--${name}`);
  };
  const ca = read("ca");
  const cert = read("cert");
  const key = read("key");
  if (cert !== undefined && key === undefined) throw new UsageError("--cert needs --key (its private key)");
  if (key !== undefined && cert === undefined)
    throw new UsageError("--key needs --cert (the client certificate)");
  const proxy = str(values, "proxy");
  try {
    return createNodeFetch({ ...(proxy !== undefined && { proxy }), ca, cert, key });
  } catch (error) {
    // createNodeFetch names the option, never its value; on the command line it is a flag.
    const message = (error as Error).message
      .replace(/^cert\/key\b/, "--cert/--key")
      .replace(/^(ca|cert|key|proxy)\b/, "--$1");
    throw new UsageError(message);
  }
}
