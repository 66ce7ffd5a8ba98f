import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, EXIT, type Hooks, type Io, paint, str, UsageError, type Values } from "../command.js";

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

/**
 * An `m2m token` line for an app that must use DPoP, that works when pasted once `dpop.pem` exists
 * (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dpop.pem`): a secret is
 * read from the configuration file into an environment variable by `node` at that moment, never
 * printed; a `private_key_jwt` app names its key file.
 */
function dpopTokenLine(
  configFile: string,
  appIndex: number,
  clientId: string,
  method: string,
  api: string,
  issuer: string,
) {
  const command = `m2m token --issuer ${shellQuote(issuer)} --client-id ${shellQuote(clientId)} --audience ${shellQuote(api)} --dpop-key dpop.pem`;
  if (method === "client_secret_basic" || method === "client_secret_post") {
    const read = `"$(node -p ${shellQuote(`require(process.argv[1]).apps[${appIndex}].clientSecret`)} ${shellQuote(configFile)})"`;
    return `M2M_CLIENT_SECRET=${read} ${command} --client-secret-env M2M_CLIENT_SECRET`;
  }
  return `${command} --private-key-file KEY.pem`;
}

async function run(values: Values, _positionals: string[], io: Io, hooks: Hooks): Promise<number> {
  const configPath = str(values, "config") ?? "m2m.dev.json";
  if (values.init) return writeSampleConfig(configPath, io);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError("--port must be a port number");
  const { startDevServer } = await import("../../dev-server/index.js");
  const dev = await startDevServer({ configPath, port, host: str(values, "host") });
  const configFile = resolve(configPath);
  io.out(`${paint(io, 1, "m2m dev")} — local M2M authorization server`);
  io.out(`issuer:     ${dev.issuer}`);
  io.out(`token URL:  ${dev.tokenEndpoint}`);
  io.out(`JWKS:       ${dev.jwksUri}`);
  for (const api of dev.config.apis) io.out(`API         ${api.identifier}  scopes: ${api.scopes.join(" ")}`);
  dev.config.apps.forEach((app, index) => {
    const enabled = app.enabled !== false;
    const method = app.authMethod ?? (app.jwks || app.federated ? "private_key_jwt" : "client_secret_basic");
    io.out("");
    io.out(`app ${app.name ?? app.clientId} (${app.clientId})${enabled ? "" : paint(io, 33, " — disabled")}`);
    for (const credential of app.federated ?? []) {
      io.out(
        `  federated: ${credential.subject} from ${credential.issuer} (aud ${credential.audience ?? dev.issuer})`,
      );
    }
    if (app.grantTypes) io.out(`  grant types: ${app.grantTypes.join(" ")}`);
    for (const [api, scopes] of Object.entries(app.grants)) {
      io.out(`  ${api}: ${scopes.join(" ") || "(no scopes)"}`);
      if (enabled && app.dpop) {
        io.out(`  DPoP required: ${dpopTokenLine(configFile, index, app.clientId, method, api, dev.issuer)}`);
      } else if (
        enabled &&
        (method === "client_secret_basic" || method === "client_secret_post") &&
        (app.grantTypes ?? ["client_credentials"]).includes("client_credentials")
      ) {
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

/** `m2m dev`: a local M2M authorization server from m2m.dev.json. */
export const devCommand: Command = {
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
  run,
};
