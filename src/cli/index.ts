import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { decodeJwt, decodeProtectedHeader } from "jose";
// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { ClientCredentialsClient, createVerifier, M2MError } from "../index.js";
import { createNodeFetch, FileTokenStore, type NodeFetch } from "../node/index.js";
import { PROVIDER_NAMES, type ProviderName } from "../providers.js";

/**
 * The `m2m` command. Exit codes: 0 success; 1 the operation failed (token refused, token invalid,
 * server unreachable); 2 usage or configuration error (including a missing optional peer dependency).
 *
 * Options are rows of a table per command: a row gives the parser its type, the help its line, and
 * says whether the value is secret (a secret option's value is never echoed, whatever goes wrong).
 */

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  stdin: () => Promise<string>;
  color: boolean;
}

class UsageError extends Error {}

/** One command-line option. */
export interface OptionRow {
  /** Long name without the dashes. */
  name: string;
  type: "string" | "boolean";
  /** Placeholder shown in the help (`URL`, `FILE`, …); string options only. */
  value?: string;
  help: string;
  default?: string;
  /** The value is, or may be mistaken for, a secret: never shown in any message. */
  secret?: boolean;
  /** A string option whose value may be left out (`--cache` or `--cache DIR`): then it is "". */
  optionalValue?: boolean;
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  usage: string;
  summary: string;
  description: string;
  options: OptionRow[];
  positionals?: boolean;
  run: (values: Values, positionals: string[], io: Io, hooks: Hooks) => Promise<number>;
}

interface Hooks {
  onStarted?: (close: () => Promise<void>) => void;
}

/** Options every command takes. */
const COMMON: OptionRow[] = [
  { name: "debug", type: "boolean", help: "on failure, print the stack and the chain of causes" },
  { name: "help", type: "boolean", help: "show this help" },
];

/**
 * Options of the commands that talk to a server (issuer, token endpoint, JWKS). Requests go through
 * `createNodeFetch` of m2m-kit/node: proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY unless --proxy.
 */
const TRANSPORT: OptionRow[] = [
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

const TOKEN_OPTIONS: OptionRow[] = [
  { name: "issuer", type: "string", value: "URL", help: "issuer (discovery)" },
  { name: "token-endpoint", type: "string", value: "URL", help: "token endpoint (instead of discovery)" },
  { name: "client-id", type: "string", value: "ID", help: "the M2M app's client id" },
  {
    name: "client-secret-env",
    type: "string",
    value: "VAR",
    help: "name of the environment variable holding the client secret",
    secret: true,
  },
  {
    name: "client-secret-file",
    type: "string",
    value: "FILE",
    help: "file holding the client secret",
    secret: true,
  },
  {
    name: "private-key-file",
    type: "string",
    value: "FILE",
    help: "PEM or JWK private key for private_key_jwt",
    secret: true,
  },
  {
    name: "dpop-key",
    type: "string",
    value: "FILE",
    help: "PEM (PKCS#8) or JWK private key: get a DPoP-bound token (RFC 9449) for this key",
    secret: true,
  },
  { name: "audience", type: "string", value: "URL", help: "the API (audience or resource)" },
  { name: "scope", type: "string", value: '"a b"', help: "scopes, space-separated" },
  { name: "provider", type: "string", value: "NAME", help: `provider preset: ${PROVIDER_NAMES.join(", ")}` },
  { name: "json", type: "boolean", help: "print the whole result as JSON (token included)" },
  {
    name: "cache",
    type: "string",
    value: "[DIR]",
    optionalValue: true,
    help: "reuse the token across runs: DIR/m2m-tokens.json, mode 0600 (DIR default $XDG_CACHE_HOME/m2m-kit or ~/.cache/m2m-kit); encrypted when M2M_CACHE_KEY is set",
  },
  ...TRANSPORT,
];

const VERIFY_OPTIONS: OptionRow[] = [
  { name: "issuer", type: "string", value: "URL", help: "expected issuer (exact match)" },
  { name: "audience", type: "string", value: "URL", help: "expected audience (your API)" },
  { name: "scope", type: "string", value: '"a b"', help: "scopes the token must carry" },
  { name: "jwks-uri", type: "string", value: "URL", help: "JWKS URL (instead of discovery)" },
  { name: "json", type: "boolean", help: "print the result as JSON" },
  ...TRANSPORT,
];

const COMMANDS: Record<string, Command> = {
  dev: {
    usage: "m2m dev [--config m2m.dev.json] [--port 4000] [--host 127.0.0.1] [--init]",
    summary: "start a local M2M authorization server from m2m.dev.json",
    description: `Starts a local authorization server with the APIs and M2M apps of the configuration file, prints the
issuer, the token URL and a curl line per app that works when pasted (it reads the app's secret from
the configuration file, so no secret is printed). Signing keys are kept in m2m.dev.keys.json next to
the configuration (add it to .gitignore). Stops on Ctrl-C. --init writes a commented sample
configuration and exits.`,
    options: [
      { name: "config", type: "string", value: "FILE", help: "configuration file", default: "m2m.dev.json" },
      { name: "port", type: "string", value: "PORT", help: "port (0: a free one)", default: "4000" },
      { name: "host", type: "string", value: "HOST", help: "interface", default: "127.0.0.1" },
      { name: "init", type: "boolean", help: "write a sample configuration to --config and exit" },
    ],
    run: commandDev,
  },
  token: {
    usage:
      "m2m token --issuer URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE | --private-key-file FILE | --cert FILE --key FILE) [options]",
    summary: "get an access token with the client credentials grant",
    description: `Prints the access token (or with --json the whole result, token included). Secrets are read only from
an environment variable or a file, never from the command line. With --cert and --key and no secret,
the client authenticates with its certificate (tls_client_auth, RFC 8705) at the server's mTLS
endpoint; requests go through the proxy of HTTPS_PROXY / HTTP_PROXY unless NO_PROXY or --proxy.`,
    options: TOKEN_OPTIONS,
    run: commandToken,
  },
  decode: {
    usage: "m2m decode <token | -> [--json]",
    summary: "show a token's header and claims",
    description: `Shows the header and claims of a JWT, with times in ISO 8601. Does not verify anything. "-" reads
stdin; a leading "Bearer " is ignored.`,
    options: [
      {
        name: "json",
        type: "boolean",
        help: "print { header, claims, times } as JSON (times stay numeric; ISO 8601 in times)",
      },
    ],
    positionals: true,
    run: commandDecode,
  },
  verify: {
    usage: "m2m verify <token | -> --issuer URL --audience URL [options]",
    summary: "verify a token against an issuer's keys",
    description: `Verifies signature, issuer, audience, expiry and scopes. Exit 0 when valid, 1 with the reason when not
(for a wrong issuer or audience, the token's own iss and aud are shown). "-" reads stdin; a leading
"Bearer " is ignored.`,
    options: VERIFY_OPTIONS,
    positionals: true,
    run: commandVerify,
  },
};

function version(): string {
  // dist/cli/bin.js and src/cli/index.ts both sit two levels below package.json.
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return manifest.version as string;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 3;
  return `m2m — machine-to-machine OAuth 2.0 from the command line

Usage: m2m <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`)
  .join("\n")}

Run m2m <command> --help for its options; m2m --version for the version. Exit codes: 0 success,
1 failure, 2 usage error. Add --debug to any command to see stack traces and causes.`;
}

function commandHelp(command: Command): string {
  const rows = [...command.options, ...COMMON].map((row) => {
    const left = `--${row.name}${row.value ? ` ${row.value}` : ""}`;
    return [left, `${row.help}${row.default !== undefined ? ` (default ${row.default})` : ""}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return `Usage: ${command.usage}

${command.description}

Options:
${rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join("\n")}`;
}

/** `--name` of an `optionalValue` row, not followed by a value, becomes `--name=`. */
function withOptionalValues(args: string[], rows: OptionRow[]): string[] {
  const optional = new Set(rows.filter((row) => row.optionalValue).map((row) => `--${row.name}`));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    if (!optional.has(arg)) out.push(arg);
    else if (next !== undefined && !next.startsWith("-")) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(`${arg}=`);
  }
  return out;
}

function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const rows = [...command.options, ...COMMON];
  const options: ParseArgsConfig["options"] = {};
  for (const row of rows) {
    options[row.name] =
      row.default !== undefined ? { type: row.type, default: row.default } : { type: row.type };
  }
  try {
    const { values, positionals } = parseArgs({
      args: withOptionalValues(args, rows),
      options,
      allowPositionals: command.positionals === true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    // Node's messages quote the offending argument, which may be a secret typed in the wrong place:
    // say what is wrong without repeating it.
    const code = (error as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const name = /'(-{1,2}[^'=\s]*)/.exec((error as Error).message)?.[1];
      const known = name !== undefined && rows.some((row) => `--${row.name}` === name);
      throw new UsageError(
        known || name === undefined ? "unknown option (see --help)" : `unknown option ${name} (see --help)`,
      );
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      throw new UsageError("unexpected argument (an option's value with spaces needs quotes; see --help)");
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const row = rows.find((r) => (error as Error).message.includes(`--${r.name}`));
      throw new UsageError(
        row
          ? row.type === "boolean"
            ? `--${row.name} takes no value`
            : `--${row.name} needs a value`
          : "an option has a bad value (see --help)",
      );
    }
    throw error;
  }
}

function paint(io: Io, code: number, text: string): string {
  return io.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** The token argument: the value, or stdin for "-"; a leading `Bearer ` (as copied from a header) is dropped. */
async function tokenArgument(positionals: string[], io: Io): Promise<string> {
  const value = positionals[0];
  if (value === undefined) throw new UsageError("a token (or - for stdin) is required");
  if (positionals.length > 1) throw new UsageError('one token at a time (quote a "Bearer …" value)');
  const raw = value === "-" ? await io.stdin() : value;
  const token = raw.trim().replace(/^bearer\s+/i, "");
  if (token === "") throw new UsageError("the token is empty");
  return token;
}

function readSecretFile(path: string, option: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    // The path is not echoed: a secret passed by mistake in its place would land in CI logs.
    throw new UsageError(
      `${option}: the file cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

/** The DPoP key file: a private JWK (JSON) or a PKCS#8 PEM; its contents are never echoed. */
function readDpopKey(path: string): string | Record<string, unknown> {
  const text = readSecretFile(path, "--dpop-key");
  if (!text.startsWith("{")) return text;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new UsageError("--dpop-key: the file is neither a PEM private key nor a JSON Web Key");
  }
}

/**
 * The transport of `token` and `verify`: m2m-kit/node's undici `fetch` with the proxy (from the
 * environment unless `--proxy`), the private CA and the client certificate of the options.
 */
function transportFrom(values: Values): NodeFetch {
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

function str(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

async function commandToken(values: Values, _positionals: string[], io: Io): Promise<number> {
  const issuer = str(values, "issuer");
  const tokenEndpoint = str(values, "token-endpoint");
  const clientId = str(values, "client-id");
  if (!issuer && !tokenEndpoint) throw new UsageError("--issuer or --token-endpoint is required");
  if (!clientId) throw new UsageError("--client-id is required");
  let clientSecret: string | undefined;
  let privateKey: string | undefined;
  const secretEnv = str(values, "client-secret-env");
  const secretFile = str(values, "client-secret-file");
  const keyFile = str(values, "private-key-file");
  if (secretEnv !== undefined) {
    clientSecret = io.env[secretEnv];
    if (!clientSecret) {
      throw new UsageError(
        "--client-secret-env: the environment variable it names is not set or empty (pass the variable's name, not the secret)",
      );
    }
  } else if (secretFile !== undefined) {
    clientSecret = readSecretFile(secretFile, "--client-secret-file");
  } else if (keyFile !== undefined) {
    privateKey = readSecretFile(keyFile, "--private-key-file");
  } else if (str(values, "cert") === undefined) {
    throw new UsageError(
      "one of --client-secret-env, --client-secret-file, --private-key-file or --cert (mutual TLS) is required",
    );
  }
  const dpopFile = str(values, "dpop-key");
  const dpop = dpopFile === undefined ? undefined : { privateKey: readDpopKey(dpopFile) };
  const provider = str(values, "provider");
  if (provider !== undefined && !PROVIDER_NAMES.includes(provider as ProviderName)) {
    throw new UsageError(`--provider must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  const fetch = transportFrom(values);
  let client: ClientCredentialsClient;
  try {
    const cache = str(values, "cache");
    const store =
      cache === undefined
        ? undefined
        : new FileTokenStore({
            directory: cache === "" ? undefined : resolve(cache),
            encryptionKey: io.env.M2M_CACHE_KEY || undefined,
          });
    client = new ClientCredentialsClient({
      store,
      issuer,
      tokenEndpoint,
      clientId,
      clientSecret,
      privateKey,
      dpop,
      provider: provider as ProviderName | undefined,
      fetch,
      allowInsecureHttp: values["allow-insecure-http"] === true,
      retry: { retries: 1 },
    });
  } catch (error) {
    await fetch.close();
    throw new UsageError(cliMessage((error as Error).message));
  }
  try {
    const token = await client.getToken({ audience: str(values, "audience"), scope: str(values, "scope") });
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            access_token: token.accessToken,
            token_type: token.tokenType,
            expires_at: new Date(token.expiresAt).toISOString(),
            scope: token.scope.join(" "),
            audience: token.audience,
          },
          null,
          2,
        ),
      );
    } else {
      io.out(token.accessToken);
    }
    if (dpop) {
      // The token alone is refused by the API: say what else each request needs (stderr, so that
      // `$(m2m token …)` still captures the token only).
      io.err(
        "DPoP-bound token: send it as `Authorization: DPoP <token>` with a `DPoP` proof header signed by the same key, made per request (RFC 9449 §4); in code, client.dpopProof(method, url, token)",
      );
    }
    return EXIT.ok;
  } finally {
    await client.close();
    await fetch.close();
  }
}

const TIME_CLAIMS = ["exp", "nbf", "iat", "auth_time"];

/** ISO 8601 strings of the numeric time claims. */
function isoTimes(claims: Record<string, unknown>): Record<string, string> {
  const times: Record<string, string> = {};
  for (const name of TIME_CLAIMS) {
    const value = claims[name];
    if (typeof value === "number" && Number.isFinite(value))
      times[name] = new Date(value * 1000).toISOString();
  }
  return times;
}

async function commandDecode(values: Values, positionals: string[], io: Io): Promise<number> {
  const token = await tokenArgument(positionals, io);
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token);
  } catch {
    io.err("not a JWT: the token could not be decoded");
    return EXIT.failed;
  }
  const exp = claims.exp;
  const expiresInSeconds = typeof exp === "number" ? Math.round(exp - Date.now() / 1000) : undefined;
  if (values.json) {
    io.out(JSON.stringify({ header, claims, times: isoTimes(claims), expiresInSeconds }, null, 2));
    return EXIT.ok;
  }
  const human: Record<string, unknown> = { ...claims };
  for (const [name, iso] of Object.entries(isoTimes(claims))) human[name] = `${claims[name]} (${iso})`;
  io.out(paint(io, 1, "header"));
  io.out(JSON.stringify(header, null, 2));
  io.out(paint(io, 1, "claims"));
  io.out(JSON.stringify(human, null, 2));
  if (expiresInSeconds !== undefined) {
    io.out(
      expiresInSeconds > 0
        ? `expires in ${expiresInSeconds} s`
        : paint(io, 31, `expired ${-expiresInSeconds} s ago`),
    );
  }
  return EXIT.ok;
}

/** The binding of a sender-constrained token (RFC 7800 `cnf`), which each request to the API must prove. */
function boundTo(cnf: unknown): string {
  if (typeof cnf !== "object" || cnf === null) return "";
  const names = Object.keys(cnf).map((name) =>
    name === "jkt"
      ? "a DPoP key (jkt)"
      : name === "x5t#S256"
        ? "a client certificate (x5t#S256)"
        : /^[\w#.-]{1,32}$/.test(name)
          ? `cnf.${name}`
          : "an unknown method",
  );
  return `, bound to ${names.join(" and ")}: each request must prove it`;
}

/** What the token itself says, for an issuer or audience mismatch (read without verifying). */
function tokenSays(token: string): { iss?: unknown; aud?: unknown } {
  try {
    const { iss, aud } = decodeJwt(token);
    return { iss, aud };
  } catch {
    return {};
  }
}

async function commandVerify(values: Values, positionals: string[], io: Io): Promise<number> {
  const token = await tokenArgument(positionals, io);
  const issuer = str(values, "issuer");
  const audience = str(values, "audience");
  if (!issuer) throw new UsageError("--issuer is required");
  if (!audience) throw new UsageError("--audience is required");
  const fetch = transportFrom(values);
  try {
    return await verifyWith(fetch, token, issuer, audience, values, io);
  } finally {
    await fetch.close();
  }
}

async function verifyWith(
  fetch: NodeFetch,
  token: string,
  issuer: string,
  audience: string,
  values: Values,
  io: Io,
): Promise<number> {
  let verifier: ReturnType<typeof createVerifier>;
  try {
    verifier = createVerifier({
      issuer,
      audience,
      jwksUri: str(values, "jwks-uri"),
      fetch,
      allowInsecureHttp: values["allow-insecure-http"] === true,
    });
  } catch (error) {
    throw new UsageError(cliMessage((error as Error).message));
  }
  const scope = str(values, "scope");
  try {
    // A bound token's proof or certificate belongs to each request, which a command line never sees:
    // the binding is shown, not checked.
    const auth = await verifier.verify(token, {
      confirmation: "checked-by-caller",
      ...(scope && { requiredScopes: scope }),
    });
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            valid: true,
            clientId: auth.clientId,
            subject: auth.subject,
            issuer: auth.issuer,
            scopes: auth.scopes,
            expiresAt: auth.expiresAt,
            expiresAtIso: new Date(auth.expiresAt).toISOString(),
            header: auth.header,
            claims: auth.claims,
            times: isoTimes(auth.claims as Record<string, unknown>),
          },
          null,
          2,
        ),
      );
    } else {
      io.out(
        `${paint(io, 32, "valid")}: client ${auth.clientId ?? "(none)"}, scopes [${auth.scopes.join(" ")}], expires ${new Date(auth.expiresAt).toISOString()}${boundTo(auth.claims.cnf)}`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof M2MError)) throw error;
    const says = tokenSays(token);
    const mismatch: Record<string, unknown> = {};
    if (error.code === "ERR_JWT_ISSUER") mismatch.iss = says.iss;
    if (error.code === "ERR_JWT_AUDIENCE") mismatch.aud = says.aud;
    if (values.json) {
      io.out(
        JSON.stringify({ valid: false, code: error.code, message: error.message, token: mismatch }, null, 2),
      );
      return EXIT.failed;
    }
    io.out(`${paint(io, 31, "invalid")}: ${error.code}: ${error.message}`);
    if ("iss" in mismatch) {
      io.out(`  the token's iss: ${JSON.stringify(mismatch.iss)}`);
      io.out(`  --issuer:        ${JSON.stringify(issuer)}`);
      if (typeof mismatch.iss === "string" && mismatch.iss.replace(/\/$/, "") === issuer.replace(/\/$/, "")) {
        io.out("  they differ only by a trailing slash: the issuer must match exactly");
      }
    }
    if ("aud" in mismatch) {
      io.out(`  the token's aud: ${JSON.stringify(mismatch.aud)}`);
      io.out(`  --audience:      ${JSON.stringify(audience)}`);
    }
    return EXIT.failed;
  }
}

const SAMPLE_CONFIG = (secret: string) => `{
  "$schema": "./node_modules/m2m-kit/m2m.dev.schema.json",
  "$comment": "m2m dev: a local M2M authorization server. apis are your APIs (as in a provider's console), apps the machines that call them. Keep this file for development only.",
  "apis": [
    {
      "$comment": "identifier is the audience of this API's tokens (what the API's verifier expects).",
      "identifier": "https://api.example.com",
      "name": "Example API",
      "scopes": ["read:data", "write:data"],
      "tokenLifetimeSeconds": 3600
    }
  ],
  "apps": [
    {
      "$comment": "An M2M app: client credentials and, per API, the scopes it is granted. A random secret was generated for it.",
      "name": "Example job",
      "clientId": "example-job",
      "clientSecret": "${secret}",
      "authMethod": "client_secret_basic",
      "grants": { "https://api.example.com": ["read:data"] }
    }
  ]
}
`;

function writeSampleConfig(path: string, io: Io): number {
  const file = resolve(path);
  if (existsSync(file)) throw new UsageError(`${file} already exists; not overwritten`);
  writeFileSync(file, SAMPLE_CONFIG(randomBytes(24).toString("base64url")), { mode: 0o600 });
  io.out(
    `wrote ${file}: one API and one M2M app; edit it, then run m2m dev${path === "m2m.dev.json" ? "" : ` --config ${path}`}`,
  );
  return EXIT.ok;
}

/** Single-quotes a value for a POSIX shell. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A curl line that works when pasted: the secret is read from the configuration file by `node` at
 * that moment (and form-encoded for Basic, RFC 6749 §2.3.1), so it is never printed.
 */
function curlLine(
  configFile: string,
  appIndex: number,
  clientId: string,
  method: string,
  api: string,
  tokenUrl: string,
) {
  const read = (expression: string) =>
    `"$(node -p ${shellQuote(`const a = require(process.argv[1]).apps[${appIndex}]; ${expression}`)} ${shellQuote(configFile)})"`;
  const target = `-d resource=${shellQuote(api)}`;
  if (method === "client_secret_post") {
    return `curl -s -d grant_type=client_credentials ${target} --data-urlencode client_id=${shellQuote(clientId)} --data-urlencode client_secret=${read("a.clientSecret")} ${tokenUrl}`;
  }
  return `curl -s -u ${read('encodeURIComponent(a.clientId) + ":" + encodeURIComponent(a.clientSecret)')} -d grant_type=client_credentials ${target} ${tokenUrl}`;
}

async function commandDev(values: Values, _positionals: string[], io: Io, hooks: Hooks): Promise<number> {
  const configPath = str(values, "config") ?? "m2m.dev.json";
  if (values.init) return writeSampleConfig(configPath, io);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError("--port must be a port number");
  const { startDevServer } = await import("../dev-server/index.js");
  const dev = await startDevServer({ configPath, port, host: str(values, "host") });
  const configFile = resolve(configPath);
  io.out(`${paint(io, 1, "m2m dev")} — local M2M authorization server`);
  io.out(`issuer:     ${dev.issuer}`);
  io.out(`token URL:  ${dev.tokenEndpoint}`);
  io.out(`JWKS:       ${dev.jwksUri}`);
  for (const api of dev.config.apis) io.out(`API         ${api.identifier}  scopes: ${api.scopes.join(" ")}`);
  dev.config.apps.forEach((app, index) => {
    const enabled = app.enabled !== false;
    const method = app.authMethod ?? (app.jwks ? "private_key_jwt" : "client_secret_basic");
    io.out("");
    io.out(`app ${app.name ?? app.clientId} (${app.clientId})${enabled ? "" : paint(io, 33, " — disabled")}`);
    for (const [api, scopes] of Object.entries(app.grants)) {
      io.out(`  ${api}: ${scopes.join(" ") || "(no scopes)"}`);
      if (enabled && app.dpop) {
        io.out(
          `  DPoP required: m2m token --issuer ${dev.issuer} --client-id ${shellQuote(app.clientId)} … --dpop-key FILE`,
        );
      } else if (enabled && (method === "client_secret_basic" || method === "client_secret_post")) {
        io.out(`  ${curlLine(configFile, index, app.clientId, method, api, dev.tokenEndpoint)}`);
      }
    }
  });
  if (dev.keys.created) {
    io.out("");
    io.out(paint(io, 33, `created ${dev.keys.path}: keep it out of version control (add it to .gitignore)`));
  }
  io.out("");
  io.out("ready");
  hooks.onStarted?.(dev.close);
  return EXIT.ok;
}

/** The library's hints name its options; on the command line they are flags. */
function cliMessage(message: string): string {
  return message.replace(/set allowInsecureHttp: true/g, "pass --allow-insecure-http");
}

const USAGE_CODES = new Set(["ERR_DEV_CONFIG", "ERR_MISSING_PEER_DEPENDENCY"]);

/** `cause: Name [code]: message` lines for an error's causes, innermost last. */
function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let cause = (error as { cause?: unknown })?.cause;
  while (cause !== undefined && cause !== null && !seen.has(cause) && lines.length < 10) {
    seen.add(cause);
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      lines.push(`cause: ${cause.name}${code !== undefined ? ` [${String(code)}]` : ""}: ${cause.message}`);
    } else {
      lines.push(`cause: ${String(cause)}`);
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return lines;
}

/** Runs the CLI; returns the exit code (the `dev` command keeps running until its server closes). */
export async function main(
  argv: string[],
  io: Io,
  onStarted?: (close: () => Promise<void>) => void,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    io.out(version());
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`m2m: unknown command (see m2m --help)`);
    return EXIT.usage;
  }
  if (args.includes("--help") || args.includes("-h")) {
    io.out(commandHelp(command));
    return EXIT.ok;
  }
  const debug = args.includes("--debug");
  try {
    const { values, positionals } = parse(command, args);
    return await command.run(values, positionals, io, { onStarted });
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const usage = error instanceof UsageError || (typeof code === "string" && USAGE_CODES.has(code));
    const message =
      error instanceof M2MError
        ? `${error.code}: ${cliMessage(error.message)}`
        : cliMessage((error as Error)?.message ?? String(error));
    io.err(`m2m ${name}: ${message}`);
    if (debug) {
      if (error instanceof Error && error.stack) io.err(error.stack);
      for (const line of causeChain(error)) io.err(line);
    }
    return usage ? EXIT.usage : EXIT.failed;
  }
}
