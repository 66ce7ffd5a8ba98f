import { createNodeFetch, type NodeFetch } from "../node/index.js";
import { type Io, type OptionRow, readSecretFile, str, UsageError, type Values } from "./command.js";

/**
 * Options of the commands that talk to a server (issuer, token endpoint, JWKS). Requests go through
 * `createNodeFetch` of m2m-kit/node: proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY unless --proxy.
 */
export const TRANSPORT: OptionRow[] = [
  {
    name: "ca",
    type: "string",
    value: "FILE",
    help: "PEM certificate(s) of a private CA to trust, in addition to Node's roots and NODE_EXTRA_CA_CERTS",
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
    help: "forward proxy for every request, http://host:port without credentials (default: HTTPS_PROXY, HTTP_PROXY, NO_PROXY from the environment, credentials included)",
    secret: true,
  },
  {
    name: "proxy-user",
    type: "string",
    value: "NAME",
    help: "user name for --proxy; its password from --proxy-password-env or --proxy-password-file",
  },
  {
    name: "proxy-password-env",
    type: "string",
    value: "VAR",
    help: "name of the environment variable holding the --proxy password",
    secret: true,
  },
  {
    name: "proxy-password-file",
    type: "string",
    value: "FILE",
    help: "file holding the --proxy password",
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
export function transportFrom(values: Values, env: Io["env"]): NodeFetch {
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
  const proxy = proxyFrom(values, env);
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

/** What to do instead of a password on the command line, where every user of the host can read it (ps). */
const PROXY_CREDENTIALS =
  "--proxy must not hold credentials: every user of this machine can read a command line. Give --proxy http://host:port with --proxy-user NAME and the password in an environment variable (--proxy-password-env VAR) or a file (--proxy-password-file FILE), or set HTTPS_PROXY / HTTP_PROXY to the proxy URL with its credentials";

/**
 * `--proxy` with the credentials of `--proxy-user` and a password read from the environment or a
 * file. Credentials in `--proxy` itself are refused, and no message repeats the value.
 */
function proxyFrom(values: Values, env: Io["env"]): string | URL | undefined {
  const proxy = str(values, "proxy");
  const user = str(values, "proxy-user");
  const passwordEnv = str(values, "proxy-password-env");
  const passwordFile = str(values, "proxy-password-file");
  if (proxy === undefined) {
    if (user !== undefined || passwordEnv !== undefined || passwordFile !== undefined) {
      throw new UsageError(
        "--proxy-user, --proxy-password-env and --proxy-password-file go with --proxy (a proxy from HTTPS_PROXY / HTTP_PROXY carries its own credentials)",
      );
    }
    return undefined;
  }
  // Credentials in any form, also without a scheme ("user:password@host:3128", where a URL parser
  // takes the user name for the scheme); a proxy URL has no other use for "@".
  if (proxy.includes("@")) throw new UsageError(PROXY_CREDENTIALS);
  // A value that is not a URL is left to createNodeFetch, whose message does not repeat it either.
  if (!URL.canParse(proxy)) return proxy;
  const url = new URL(proxy);
  if (url.username !== "" || url.password !== "") throw new UsageError(PROXY_CREDENTIALS);
  if (passwordEnv !== undefined && passwordFile !== undefined) {
    throw new UsageError("--proxy-password-env and --proxy-password-file: give one of them");
  }
  if (user === undefined) {
    if (passwordEnv !== undefined || passwordFile !== undefined) {
      throw new UsageError(
        "--proxy-password-env and --proxy-password-file need --proxy-user (the user name)",
      );
    }
    return url;
  }
  // RFC 7617 §2: a user-id holds no colon; one here would be followed by the password.
  if (user === "" || user.includes(":")) {
    throw new UsageError(
      "--proxy-user is the user name alone (no colon); the password goes in --proxy-password-env or --proxy-password-file",
    );
  }
  let password: string | undefined;
  if (passwordEnv !== undefined) {
    password = env[passwordEnv];
    if (!password) {
      throw new UsageError(
        "--proxy-password-env: the environment variable it names is not set or empty (pass the variable's name, not the password)",
      );
    }
  } else if (passwordFile !== undefined) {
    password = readSecretFile(passwordFile, "--proxy-password-file");
    if (password === "") throw new UsageError("--proxy-password-file: the file is empty");
  } else {
    throw new UsageError(
      "--proxy-user needs the password: --proxy-password-env VAR or --proxy-password-file FILE",
    );
  }
  // Percent-encoded here, decoded by undici into `Proxy-Authorization: Basic`.
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url;
}
