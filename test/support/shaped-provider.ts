/**
 * oidc-provider dressed as one identity provider: its issuer form (path, trailing slash), the way its
 * token endpoint is asked for an API (audience, resource, scope only, Entra's `/.default`), its
 * client authentication, and its access-token shape (claims, `typ`), through oidc-provider's JWT
 * customizer. A thin front reads each token request the way that provider does (refusing what it
 * refuses) and maps it onto what oidc-provider reads at its token endpoint.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type ClientMetadata, errors } from "oidc-provider";
import { memoryAdapter, requestWithBody } from "./oidc-host.js";

export interface ShapedProviderOptions {
  /** Path of the issuer after the host, e.g. "/oauth2/default"; "" for the bare origin. */
  issuerPath: string;
  /** Auth0 and Hydra issuers end with a slash. */
  trailingSlash?: boolean;
  api: { identifier: string; scopes: string[] };
  client: {
    clientId: string;
    clientSecret: string;
    authMethod: "client_secret_basic" | "client_secret_post";
  };
  /**
   * How the provider reads the API from a token request: `audience=` (Auth0, Kinde, Hydra),
   * `resource=` (Authgear), the scopes only (Okta, Keycloak, Asgardeo: the API follows from the
   * authorization server or the client), or inside `scope` (Entra, Cognito, Zitadel).
   */
  reads: "audience" | "resource" | "scope" | "entra" | "cognito" | "zitadel";
  /** Reshapes the access token's payload and header as the provider issues them. */
  shape: (
    payload: Record<string, unknown>,
    header: Record<string, unknown>,
    request: URLSearchParams,
  ) => void;
}

export interface ShapedProvider {
  issuer: string;
  /** Every token request's form parameters as received, client authentication left out. */
  received: Array<Record<string, string>>;
  close(): Promise<void>;
}

interface Refusal {
  status: number;
  error: string;
  error_description: string;
}

/** Reads the target the provider's way into oidc-provider's `resource` and `scope`, or refuses. */
function readTarget(
  params: URLSearchParams,
  reads: ShapedProviderOptions["reads"],
  api: ShapedProviderOptions["api"],
): Refusal | undefined {
  const scopes = (params.get("scope") ?? "").split(" ").filter(Boolean);
  const audience = params.get("audience");
  params.delete("audience");
  if (reads !== "resource") params.delete("resource");
  switch (reads) {
    case "audience":
      if (audience !== null) params.set("resource", audience);
      return undefined;
    case "resource":
    case "scope":
      return undefined;
    case "entra": {
      // login.microsoftonline.com v2.0: the client credentials flow takes exactly one {resource}/.default.
      if (scopes.length === 0) {
        return {
          status: 400,
          error: "invalid_request",
          error_description: "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        };
      }
      const scope = scopes[0] as string;
      if (scopes.length > 1 || !scope.endsWith("/.default")) {
        return {
          status: 400,
          error: "invalid_scope",
          error_description: `AADSTS1002012: The provided value for scope ${scopes.join(" ")} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        };
      }
      params.set("resource", scope.slice(0, -"/.default".length));
      params.set("scope", api.scopes.join(" "));
      return undefined;
    }
    case "cognito": {
      // Custom scopes are {resource server identifier}/{scope name}; none asked = all the app may have.
      if (scopes.some((s) => !api.scopes.includes(s))) {
        return { status: 400, error: "invalid_scope", error_description: "invalid_scope" };
      }
      return undefined;
    }
    case "zitadel": {
      // Zitadel's reserved scopes (projects in aud, role assertion) are read by Zitadel itself.
      const reserved = /^urn:zitadel:iam:org:(?:project:id:.+:aud|projects:roles|project:role:.+)$/;
      const kept = scopes.filter((s) => !reserved.test(s));
      if (kept.length > 0) params.set("scope", kept.join(" "));
      else params.delete("scope");
      return undefined;
    }
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startShapedProvider(options: ShapedProviderOptions): Promise<ShapedProvider> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${origin}${options.issuerPath}${options.trailingSlash ? "/" : ""}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const { api, client } = options;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        token_endpoint_auth_method: client.authMethod,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
      },
    ] as ClientMetadata[],
    jwks: {
      keys: [{ ...(await exportJWK(privateKey)), kid: "shaped-1", alg: "RS256", use: "sig" }] as never,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Scope-only providers: the API follows from the client, as in their consoles.
        defaultResource: async () => api.identifier,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, identifier) => {
          if (identifier !== api.identifier) throw new errors.InvalidTarget(`unknown API ${identifier}`);
          return {
            scope: api.scopes.join(" "),
            audience: api.identifier,
            accessTokenFormat: "jwt",
            accessTokenTTL: 600,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    formats: {
      customizers: {
        jwt: async (ctx, _token, parts) => {
          parts.header ??= {};
          const request = (ctx?.req as { shapedRequest?: URLSearchParams } | undefined)?.shapedRequest;
          options.shape(
            parts.payload as Record<string, unknown>,
            parts.header as Record<string, unknown>,
            request ?? new URLSearchParams(),
          );
        },
      },
    },
  });
  const handler = provider.callback();
  const prefix = new URL(issuer).pathname.replace(/\/$/, "");
  const received: Array<Record<string, string>> = [];
  server.on("request", async (req, res) => {
    // oidc-provider is mounted under the issuer's path.
    if (prefix && req.url?.startsWith(prefix)) req.url = req.url.slice(prefix.length) || "/";
    if (req.method === "POST" && req.url === "/token") {
      const params = new URLSearchParams(await readBody(req));
      const seen = Object.fromEntries(params);
      delete seen.client_secret;
      delete seen.client_id;
      received.push(seen);
      const shapedRequest = new URLSearchParams(params);
      const refusal = readTarget(params, options.reads, api);
      if (refusal) {
        const { status, ...body } = refusal;
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
        return;
      }
      const rewritten = requestWithBody(req, params.toString());
      Object.assign(rewritten, { shapedRequest });
      handler(rewritten, res);
      return;
    }
    handler(req, res);
  });
  return {
    issuer,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
