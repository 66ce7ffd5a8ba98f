import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { type AccessToken, ClientCredentialsClient } from "../../index.js";
import { FileTokenStore, fileAssertion } from "../../node/index.js";
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
    name: "assertion-file",
    type: "string",
    value: "FILE",
    help: "client assertion issued by the platform (a Kubernetes projected service-account token, a SPIFFE JWT-SVID), read for each request",
    secret: true,
  },
  {
    name: "assertion-type",
    type: "string",
    value: "TYPE",
    help: "what --assertion-file holds: jwt-bearer (default) or jwt-spiffe",
  },
  {
    name: "subject-token-file",
    type: "string",
    value: "FILE",
    help: "token exchange (RFC 8693): the subject token to exchange",
    secret: true,
  },
  {
    name: "subject-token-type",
    type: "string",
    value: "URI",
    help: "its type (default urn:ietf:params:oauth:token-type:access_token)",
  },
  {
    name: "actor-token-file",
    type: "string",
    value: "FILE",
    help: "token exchange: the actor token (delegation)",
    secret: true,
  },
  {
    name: "actor-token-type",
    type: "string",
    value: "URI",
    help: "its type (required with --actor-token-file)",
  },
  {
    name: "requested-token-type",
    type: "string",
    value: "URI",
    help: "token exchange: the type of token wanted",
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

/** A file this process may read (not a folder), checked without reading it; the path is never echoed. */
function checkReadable(path: string, option: string): void {
  try {
    accessSync(path, constants.R_OK);
    if (statSync(path).isDirectory()) throw Object.assign(new Error("a folder"), { code: "EISDIR" });
  } catch (error) {
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

async function run(values: Values, _positionals: string[], io: Io): Promise<number> {
  const issuer = str(values, "issuer");
  const tokenEndpoint = str(values, "token-endpoint");
  const clientId = str(values, "client-id");
  if (!issuer && !tokenEndpoint) throw new UsageError("--issuer or --token-endpoint is required");
  if (!clientId) throw new UsageError("--client-id is required");
  let clientSecret: string | undefined;
  let privateKey: string | undefined;
  let clientAssertion: ReturnType<typeof fileAssertion> | undefined;
  const secretEnv = str(values, "client-secret-env");
  const secretFile = str(values, "client-secret-file");
  const keyFile = str(values, "private-key-file");
  const assertionFile = str(values, "assertion-file");
  const assertionType = str(values, "assertion-type");
  if (assertionType !== undefined && assertionFile === undefined) {
    throw new UsageError("--assertion-type needs --assertion-file");
  }
  if (assertionType !== undefined && assertionType !== "jwt-bearer" && assertionType !== "jwt-spiffe") {
    throw new UsageError("--assertion-type must be jwt-bearer or jwt-spiffe");
  }
  const credentials = [secretEnv, secretFile, keyFile, assertionFile].filter((v) => v !== undefined);
  if (credentials.length > 1) {
    throw new UsageError(
      "give one of --client-secret-env, --client-secret-file, --private-key-file or --assertion-file",
    );
  }
  if (assertionFile !== undefined) {
    // An unreadable file is a usage error. Checked without reading: the client reads it for each
    // request, and a pipe (`<(…)`, /dev/stdin) gives its token only once.
    checkReadable(assertionFile, "--assertion-file");
    let source: ReturnType<typeof fileAssertion>;
    try {
      source = fileAssertion(resolve(assertionFile), { kind: assertionType ?? "jwt-bearer" });
    } catch (error) {
      throw new UsageError(`--assertion-file: ${(error as Error).message.replace(/^fileAssertion: /, "")}`);
    }
    // Named by its option, not its path: a token pasted in place of the path must not be echoed.
    clientAssertion = { ...source, description: "--assertion-file" };
  } else if (secretEnv !== undefined) {
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
      "one of --client-secret-env, --client-secret-file, --private-key-file, --assertion-file or --cert (mutual TLS) is required",
    );
  }
  const exchange = exchangeFrom(values);
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
      clientAssertion,
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
    const target = { audience: str(values, "audience"), scope: str(values, "scope") };
    const token: AccessToken = exchange
      ? await client.exchangeToken({ ...exchange, ...target })
      : await client.getToken(target);
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            access_token: token.accessToken,
            token_type: token.tokenType,
            expires_at: new Date(token.expiresAt).toISOString(),
            scope: token.scope.join(" "),
            audience: token.audience,
            ...(token.issuedTokenType !== undefined && { issued_token_type: token.issuedTokenType }),
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

/**
 * The tokens of a token exchange (RFC 8693), from files only: a token on the command line would land
 * in the shell's history and the process list.
 */
function exchangeFrom(values: Values) {
  const subjectFile = str(values, "subject-token-file");
  const actorFile = str(values, "actor-token-file");
  const subjectTokenType = str(values, "subject-token-type");
  const actorTokenType = str(values, "actor-token-type");
  const requestedTokenType = str(values, "requested-token-type");
  if (subjectFile === undefined) {
    for (const [name, value] of [
      ["actor-token-file", actorFile],
      ["subject-token-type", subjectTokenType],
      ["actor-token-type", actorTokenType],
      ["requested-token-type", requestedTokenType],
    ] as const) {
      if (value !== undefined) throw new UsageError(`--${name} needs --subject-token-file (token exchange)`);
    }
    return undefined;
  }
  if (actorFile !== undefined && actorTokenType === undefined) {
    throw new UsageError("--actor-token-type is required with --actor-token-file (RFC 8693 §2.1)");
  }
  if (actorFile === undefined && actorTokenType !== undefined) {
    throw new UsageError("--actor-token-type needs --actor-token-file");
  }
  return {
    subjectToken: readSecretFile(subjectFile, "--subject-token-file"),
    subjectTokenType,
    actorToken: actorFile === undefined ? undefined : readSecretFile(actorFile, "--actor-token-file"),
    actorTokenType,
    requestedTokenType,
  };
}

/** `m2m token`: an access token with the client credentials grant, or by token exchange. */
export const tokenCommand: Command = {
  usage:
    "m2m token --issuer URL --client-id ID (--client-secret-env VAR | --client-secret-file FILE | --private-key-file FILE | --assertion-file FILE | --cert FILE --key FILE) [--subject-token-file FILE] [options]",
  summary: "get an access token with the client credentials grant, or by token exchange",
  description: `Prints the access token (or with --json the whole result, token included). Secrets, assertions and
tokens are read only from an environment variable or a file, never from the command line. With
--assertion-file the client authenticates with a token its platform issued (a Kubernetes projected
service-account token, a SPIFFE JWT-SVID with --assertion-type jwt-spiffe): no stored secret. With
--subject-token-file the token is obtained by token exchange (RFC 8693) on behalf of that token's
subject, with --actor-token-file for delegation. With --cert and --key and no secret, the client
authenticates with its certificate (tls_client_auth, RFC 8705) at the server's mTLS endpoint; requests
go through the proxy of HTTPS_PROXY / HTTP_PROXY unless NO_PROXY or --proxy.`,
  options: TOKEN_OPTIONS,
  run,
};
