import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { MissingPeerDependencyError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import {
  type DevApi,
  type DevApp,
  type DevConfig,
  DevConfigError,
  type DevFederatedCredential,
  type DevGrantType,
  parseDevConfig,
  validateDevConfig,
} from "./config.js";
import { authenticateFederated } from "./federated-auth.js";
import { createFederation } from "./federation.js";
import {
  customizeJwt,
  extraTokenClaims,
  GRANT_TYPE_VALUES,
  registerWorkloadGrants,
  unauthorizedClientAnswer,
} from "./grants.js";
import { clientMetadata, memoryAdapter, UNSERVED_METADATA, withFederation } from "./provider-setup.js";
import { createResources } from "./resources.js";
import { loadKeys, type SigningAlg } from "./signing-keys.js";
import { clientIdOf, readBody, rewrittenRequest } from "./token-request.js";

export {
  type DevApi,
  type DevApp,
  type DevConfig,
  DevConfigError,
  type DevFederatedCredential,
  type DevGrantType,
  MissingPeerDependencyError,
  parseDevConfig,
  validateDevConfig,
};

/** Options of {@link startDevServer}. */
export interface StartDevServerOptions {
  /** The configuration itself… */
  config?: DevConfig;
  /**
   * …or the path of the configuration file, resolved against the working directory. Default
   * `m2m.dev.json`. A missing or invalid file is a {@link DevConfigError} naming the path.
   */
  configPath?: string;
  /** TCP port to listen on. Default 0 (a free port; read it from `issuer`). */
  port?: number;
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host?: string;
  /**
   * Where signing keys are kept so that tokens survive a restart. Default: `m2m.dev.keys.json` next to
   * the configuration file; in memory only when the configuration is passed as an object.
   */
  keysPath?: string | false;
}

/** The names of {@link StartDevServerOptions}. */
const START_DEV_SERVER_OPTION_NAMES: OptionNames<StartDevServerOptions> = {
  config: true,
  configPath: true,
  port: true,
  host: true,
  keysPath: true,
};

/** A running dev server, as {@link startDevServer} resolves it. */
export interface DevServer {
  /** The issuer URL (`http://127.0.0.1:<port>`), for `issuer` options and discovery. */
  issuer: string;
  /** The token endpoint URL (`<issuer>/token`). */
  tokenEndpoint: string;
  /** The JWK Set URL (`<issuer>/jwks`). */
  jwksUri: string;
  /** The validated configuration it serves. */
  config: DevConfig;
  /** The keys file, when keys are kept on disk, and whether this start created it. */
  keys: {
    /** Path of the keys file; `undefined` when keys live in memory only. */
    path: string | undefined;
    /** Whether this start wrote the file (new keys were made). */
    created: boolean;
  };
  /** Number of token requests answered so far. */
  readonly tokenRequests: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Starts a local M2M authorization server (oidc-provider) from a console-like configuration: API
 * resources with scopes, M2M apps with credentials and grants. Tokens are RFC 9068 JWTs carrying
 * exactly the granted scopes; both `resource` (RFC 8707) and `audience` request styles work.
 *
 * @throws {@link DevConfigError} (`ERR_DEV_CONFIG`) for a missing or invalid configuration, naming the
 *   file and the JSON path; {@link MissingPeerDependencyError} (`ERR_MISSING_PEER_DEPENDENCY`) when the
 *   optional peer `oidc-provider` is not installed.
 * @example
 * ```ts
 * const dev = await startDevServer({ configPath: "m2m.dev.json", port: 4000 });
 * console.log(dev.issuer); await dev.close();
 * ```
 */
export async function startDevServer(options: StartDevServerOptions = {}): Promise<DevServer> {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [START_DEV_SERVER_OPTION_NAMES], "startDevServer()");
  let config: DevConfig;
  let keysPath: string | undefined;
  if (options.config !== undefined) {
    config = validateDevConfig(options.config, "config");
    keysPath = options.keysPath || undefined;
  } else {
    const path = resolve(options.configPath ?? "m2m.dev.json");
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      throw new DevConfigError(
        path,
        "",
        missing
          ? "no such file. `m2m dev --init` writes a commented sample there (or pass --config FILE)"
          : `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    config = parseDevConfig(text, path);
    keysPath =
      options.keysPath === false
        ? undefined
        : (options.keysPath ?? join(dirname(path), `${basename(path).replace(/\.json$/, "")}.keys.json`));
  }

  let ProviderClass: typeof import("oidc-provider").default;
  let providerErrors: typeof import("oidc-provider").errors;
  try {
    const mod = await import("oidc-provider");
    ProviderClass = mod.default;
    providerErrors = mod.errors;
  } catch (error) {
    throw new MissingPeerDependencyError("oidc-provider", "m2m-kit/dev-server", {
      cause: error,
      devDependency: true,
    });
  }

  const algs = [...new Set(config.apis.map((api) => api.signingAlg ?? "RS256"))];
  const { keys, created } = await loadKeys(keysPath, algs);

  const server: Server = createServer();
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolveListen());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const issuer = `http://${host}:${address.port}`;

  const apis = new Map(config.apis.map((api) => [api.identifier, api]));
  const apps = new Map(config.apps.map((app) => [app.clientId, app]));
  const federation = await createFederation(issuer);
  const resources = createResources(apis, apps, providerErrors);
  const provider = new ProviderClass(issuer, {
    adapter: memoryAdapter() as never,
    clients: config.apps
      .filter((app) => app.enabled !== false)
      .map((app) =>
        withFederation(
          clientMetadata(app, algs.includes("RS256") ? "RS256" : (algs[0] as SigningAlg)),
          app,
          federation,
        ),
      ) as never,
    jwks: { keys: keys as never },
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
    // The proof algorithms m2m-kit's client makes (oidc-provider's default is ES256 and Ed25519 only).
    enabledJWA: { dPoPSigningAlgValues: ["ES256", "ES384", "PS256", "RS256", "Ed25519", "EdDSA"] as never },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // DPoP (RFC 9449) for every app; apps with `dpop: true` must use it. No server nonce.
      dPoP: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // An app authorized for exactly one API gets that API when the request names none; with
        // several, the request must choose (otherwise it would get a token no API accepts).
        defaultResource: resources.defaultResource,
        useGrantedResource: async () => true,
        getResourceServerInfo: resources.getResourceServerInfo,
      },
    },
    // Tokens of token exchange and jwt-bearer grants are about their subject, with its actor.
    extraTokenClaims,
    formats: { customizers: { jwt: customizeJwt } },
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600 },
  });

  // Discovery advertises what this server serves: the client credentials grant, no authorization
  // endpoint (RFC 8414 §2: no response types).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === "/.well-known/openid-configuration" && ctx.body && typeof ctx.body === "object") {
      const metadata = ctx.body as Record<string, unknown>;
      for (const field of UNSERVED_METADATA) delete metadata[field];
      metadata.grant_types_supported = [
        ...new Set(config.apps.flatMap((app): DevGrantType[] => app.grantTypes ?? ["client_credentials"])),
      ].map((type) => GRANT_TYPE_VALUES[type]);
      metadata.response_types_supported = [];
      metadata.scopes_supported = [...new Set(config.apis.flatMap((api) => api.scopes))];
    }
  });

  registerWorkloadGrants({ provider, errors: providerErrors, issuer, apps, federation, resources, keys });
  provider.use(unauthorizedClientAnswer(apps));
  // An app with `dpop: true` that sends no proof: oidc-provider answers a bare "grant request is
  // invalid" (its reason stays in the error's detail); the answer says what the app must do.
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (
      ctx.oidc?.route === "token" &&
      body?.error === "invalid_grant" &&
      ctx.oidc.client?.dpopBoundAccessTokens === true &&
      !ctx.get("dpop")
    ) {
      body.error_description = `the app ${JSON.stringify(ctx.oidc.client.clientId)} requires DPoP (RFC 9449; "dpop": true in its configuration): send a DPoP proof with the token request`;
    }
  });

  let tokenRequests = 0;
  const handler = provider.callback();
  server.on("request", async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST" || !req.url?.startsWith("/token")) {
      handler(req, res);
      return;
    }
    tokenRequests++;
    const params = new URLSearchParams(await readBody(req));
    // oidc-provider reads `audience` only at the authorization endpoint; Auth0- and Kinde-style
    // clients send it to the token endpoint, so it is mapped to the RFC 8707 `resource` here.
    // Every value is kept, so that a request naming several APIs is refused rather than narrowed.
    const audiences = params.getAll("audience");
    if (!params.has("resource")) for (const audience of audiences) params.append("resource", audience);
    params.delete("audience");
    let refusal: Awaited<ReturnType<typeof authenticateFederated>>;
    try {
      refusal = await authenticateFederated(
        params,
        req.headers.authorization !== undefined,
        apps,
        federation,
      );
    } catch (error) {
      refusal = {
        status: 500,
        error: "server_error",
        description: `the federated credential could not be checked (${(error as Error).message})`,
      };
    }
    if (refusal) {
      res.writeHead(refusal.status, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
      });
      res.end(JSON.stringify({ error: refusal.error, error_description: refusal.description }));
      return;
    }
    // Without scope, an app gets every scope it is granted for the API, as in the providers' consoles.
    const app = apps.get(clientIdOf(req, params) ?? "");
    const grants = app ? Object.keys(app.grants) : [];
    const resource = params.get("resource") ?? (grants.length === 1 ? grants[0] : undefined);
    if (!params.has("scope") && app && resource && app.grants[resource]?.length) {
      params.set("scope", (app.grants[resource] as string[]).join(" "));
    }
    // Handed over as a fresh stream with the rewritten body (oidc-provider reads the request itself).
    handler(rewrittenRequest(req, params.toString()), res);
  });

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    config,
    keys: { path: keysPath, created },
    get tokenRequests() {
      return tokenRequests;
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
