import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { decodeJwt, decodeProtectedHeader } from "jose";
// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { ClientCredentialsClient, createVerifier, M2MError } from "../index.js";
import { PROVIDER_NAMES, type ProviderName } from "../providers.js";

/**
 * The `m2m` command. Exit codes: 0 success; 1 the operation failed (token refused, token invalid);
 * 2 usage or configuration error.
 */

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  stdin: () => Promise<string>;
  color: boolean;
}

class UsageError extends Error {}

const HELP: Record<string, string> = {
  main: `m2m — machine-to-machine OAuth 2.0 from the command line

Usage: m2m <command> [options]

Commands:
  dev      start a local M2M authorization server from m2m.dev.json
  token    get an access token with the client credentials grant
  decode   show a token's header and claims
  verify   verify a token against an issuer's keys

Run m2m <command> --help for its options. Exit codes: 0 success, 1 failure, 2 usage error.
Add --debug to any command to see stack traces.`,
  dev: `Usage: m2m dev [--config m2m.dev.json] [--port 4000] [--host 127.0.0.1]

Starts a local authorization server with the APIs and M2M apps of the configuration file, prints the
issuer, the token URL and a ready curl line per app. Signing keys are kept in m2m.dev.keys.json next to
the configuration (add it to .gitignore). Stops on Ctrl-C.`,
  token: `Usage: m2m token --issuer URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE | --private-key-file FILE)
                 [--audience URL] [--scope "a b"] [--provider NAME] [--token-endpoint URL] [--json]

Prints the access token (or with --json the whole result, token included). Secrets are read only from
an environment variable or a file, never from the command line.`,
  decode: `Usage: m2m decode <token | ->

Shows the header and claims of a JWT, with times in ISO 8601. Does not verify anything. "-" reads stdin.`,
  verify: `Usage: m2m verify <token | -> --issuer URL --audience URL [--scope "a b"] [--jwks-uri URL]

Verifies signature, issuer, audience, expiry and scopes. Exit 0 when valid, 1 with the reason when not.`,
};

function paint(io: Io, code: number, text: string): string {
  return io.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

async function tokenArgument(positionals: string[], io: Io): Promise<string> {
  const value = positionals[0];
  if (value === undefined) throw new UsageError("a token (or - for stdin) is required");
  const token = value === "-" ? (await io.stdin()).trim() : value;
  if (token === "") throw new UsageError("the token is empty");
  return token;
}

function readSecretFile(path: string, option: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    throw new UsageError(`${option}: cannot read ${path}`);
  }
}

async function commandToken(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      issuer: { type: "string" },
      "token-endpoint": { type: "string" },
      "client-id": { type: "string" },
      "client-secret-env": { type: "string" },
      "client-secret-file": { type: "string" },
      "private-key-file": { type: "string" },
      audience: { type: "string" },
      scope: { type: "string" },
      provider: { type: "string" },
      json: { type: "boolean" },
      debug: { type: "boolean" },
    },
    strict: true,
  });
  if (!values.issuer && !values["token-endpoint"])
    throw new UsageError("--issuer or --token-endpoint is required");
  if (!values["client-id"]) throw new UsageError("--client-id is required");
  let clientSecret: string | undefined;
  let privateKey: string | undefined;
  if (values["client-secret-env"]) {
    clientSecret = io.env[values["client-secret-env"]];
    if (!clientSecret) throw new UsageError(`--client-secret-env: ${values["client-secret-env"]} is not set`);
  } else if (values["client-secret-file"]) {
    clientSecret = readSecretFile(values["client-secret-file"], "--client-secret-file");
  } else if (values["private-key-file"]) {
    privateKey = readSecretFile(values["private-key-file"], "--private-key-file");
  } else {
    throw new UsageError(
      "one of --client-secret-env, --client-secret-file or --private-key-file is required",
    );
  }
  if (values.provider !== undefined && !PROVIDER_NAMES.includes(values.provider as ProviderName)) {
    throw new UsageError(`--provider must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  let client: ClientCredentialsClient;
  try {
    client = new ClientCredentialsClient({
      issuer: values.issuer,
      tokenEndpoint: values["token-endpoint"],
      clientId: values["client-id"],
      clientSecret,
      privateKey,
      provider: values.provider as ProviderName | undefined,
      retry: { retries: 1 },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  try {
    const token = await client.getToken({ audience: values.audience, scope: values.scope });
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
    return EXIT.ok;
  } finally {
    await client.close();
  }
}

function human(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...claims };
  for (const name of ["exp", "nbf", "iat", "auth_time"]) {
    const value = claims[name];
    if (typeof value === "number") out[name] = `${value} (${new Date(value * 1000).toISOString()})`;
  }
  return out;
}

async function commandDecode(args: string[], io: Io): Promise<number> {
  const { positionals } = parseArgs({
    args,
    options: { debug: { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  const token = await tokenArgument(positionals, io);
  let header: unknown;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    io.err("not a JWT: the token could not be decoded");
    return EXIT.failed;
  }
  io.out(paint(io, 1, "header"));
  io.out(JSON.stringify(header, null, 2));
  io.out(paint(io, 1, "claims"));
  io.out(JSON.stringify(human(claims), null, 2));
  const exp = claims.exp;
  if (typeof exp === "number") {
    const seconds = Math.round(exp - Date.now() / 1000);
    io.out(seconds > 0 ? `expires in ${seconds} s` : paint(io, 31, `expired ${-seconds} s ago`));
  }
  return EXIT.ok;
}

async function commandVerify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      issuer: { type: "string" },
      audience: { type: "string" },
      scope: { type: "string" },
      "jwks-uri": { type: "string" },
      debug: { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
  const token = await tokenArgument(positionals, io);
  if (!values.issuer) throw new UsageError("--issuer is required");
  if (!values.audience) throw new UsageError("--audience is required");
  let verifier: ReturnType<typeof createVerifier>;
  try {
    verifier = createVerifier({
      issuer: values.issuer,
      audience: values.audience,
      jwksUri: values["jwks-uri"],
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  try {
    const auth = await verifier.verify(token, values.scope ? { requiredScopes: values.scope } : undefined);
    io.out(
      `${paint(io, 32, "valid")}: client ${auth.clientId ?? "(none)"}, scopes [${auth.scopes.join(" ")}], expires ${new Date(auth.expiresAt).toISOString()}`,
    );
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof M2MError)) throw error;
    io.out(`${paint(io, 31, "invalid")}: ${error.code}: ${error.message}`);
    return EXIT.failed;
  }
}

async function commandDev(
  args: string[],
  io: Io,
  onStarted?: (close: () => Promise<void>) => void,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string", default: "m2m.dev.json" },
      port: { type: "string", default: "4000" },
      host: { type: "string", default: "127.0.0.1" },
      debug: { type: "boolean" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError("--port must be a port number");
  const { startDevServer } = await import("../dev-server/index.js");
  const dev = await startDevServer({ configPath: values.config, port, host: values.host });
  io.out(`${paint(io, 1, "m2m dev")} — local M2M authorization server`);
  io.out(`issuer:     ${dev.issuer}`);
  io.out(`token URL:  ${dev.tokenEndpoint}`);
  io.out(`JWKS:       ${dev.jwksUri}`);
  for (const api of dev.config.apis) io.out(`API         ${api.identifier}  scopes: ${api.scopes.join(" ")}`);
  for (const app of dev.config.apps) {
    const enabled = app.enabled !== false;
    io.out("");
    io.out(`app ${app.name ?? app.clientId} (${app.clientId})${enabled ? "" : paint(io, 33, " — disabled")}`);
    for (const [api, scopes] of Object.entries(app.grants)) {
      io.out(`  ${api}: ${scopes.join(" ") || "(no scopes)"}`);
      if (enabled && app.clientSecret && (app.authMethod ?? "client_secret_basic") !== "client_secret_jwt") {
        io.out(
          `  curl -s -u '${app.clientId}:<secret>' -d grant_type=client_credentials -d resource=${api} ${dev.tokenEndpoint}`,
        );
      }
    }
  }
  if (dev.keys.created) {
    io.out("");
    io.out(paint(io, 33, `created ${dev.keys.path}: keep it out of version control (add it to .gitignore)`));
  }
  io.out("");
  io.out("ready");
  onStarted?.(dev.close);
  return EXIT.ok;
}

/** Runs the CLI; returns the exit code (the `dev` command keeps running until its server closes). */
export async function main(
  argv: string[],
  io: Io,
  onStarted?: (close: () => Promise<void>) => void,
): Promise<number> {
  const [command, ...args] = argv;
  const debug = argv.includes("--debug");
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.out(HELP.main as string);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (!(command in HELP) || command === "main") {
    io.err(`m2m: unknown command "${command}" (see m2m --help)`);
    return EXIT.usage;
  }
  if (args.includes("--help") || args.includes("-h")) {
    io.out(HELP[command] as string);
    return EXIT.ok;
  }
  try {
    if (command === "token") return await commandToken(args, io);
    if (command === "decode") return await commandDecode(args, io);
    if (command === "verify") return await commandVerify(args, io);
    return await commandDev(args, io, onStarted);
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
      (error as { code?: string }).code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ||
      (error as { code?: string }).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" ||
      (error as { code?: string }).code === "ERR_DEV_CONFIG";
    const message = error instanceof M2MError ? `${error.code}: ${error.message}` : (error as Error).message;
    io.err(`m2m ${command}: ${message}`);
    if (debug && error instanceof Error && error.stack) io.err(error.stack);
    return usage ? EXIT.usage : EXIT.failed;
  }
}
