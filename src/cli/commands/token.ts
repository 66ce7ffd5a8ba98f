import { resolve } from "node:path";
// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { ClientCredentialsClient } from "../../index.js";
import { FileTokenStore } from "../../node/index.js";
import { PROVIDER_NAMES, type ProviderName } from "../../providers.js";
import {
  type Command,
  cliMessage,
  EXIT,
  type Io,
  type OptionRow,
  readSecretFile,
  str,
  UsageError,
  type Values,
} from "../command.js";
import { TRANSPORT, transportFrom } from "../transport.js";

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

async function run(values: Values, _positionals: string[], io: Io): Promise<number> {
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
  const fetch = transportFrom(values, io.env);
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

/** `m2m token`: an access token with the client credentials grant. */
export const tokenCommand: Command = {
  usage:
    "m2m token --issuer URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE | --private-key-file FILE | --cert FILE --key FILE) [options]",
  summary: "get an access token with the client credentials grant",
  description: `Prints the access token (or with --json the whole result, token included). Secrets are read only from
an environment variable or a file, never from the command line. With --cert and --key and no secret,
the client authenticates with its certificate (tls_client_auth, RFC 8705) at the server's mTLS
endpoint; requests go through the proxy of HTTPS_PROXY / HTTP_PROXY unless NO_PROXY or --proxy.`,
  options: TOKEN_OPTIONS,
  run,
};
