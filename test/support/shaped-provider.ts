/**
 * oidc-provider dressed as one identity provider: its issuer form (path, trailing slash), the way its
 * token endpoint is asked for an API (audience, resource, scope only, Entra's `/.default`), its
 * client authentication, and its access-token shape (claims, `typ`), through oidc-provider's JWT
 * customizer. A thin front maps the request styles oidc-provider does not read at its token endpoint.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type ClientMetadata, errors } from "oidc-provider";

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
  /** Reshapes the access token's payload and header as the provider issues them. */
  shape: (payload: Record<string, unknown>, header: Record<string, unknown>) => void;
}

export interface ShapedProvider {
  issuer: string;
  close(): Promise<void>;
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
    formats: {
      customizers: {
        jwt: async (_ctx, _token, parts) => {
          parts.header ??= {};
          options.shape(parts.payload as Record<string, unknown>, parts.header as Record<string, unknown>);
        },
      },
    },
  });
  const handler = provider.callback();
  const prefix = new URL(issuer).pathname.replace(/\/$/, "");
  server.on("request", async (req, res) => {
    // oidc-provider is mounted under the issuer's path.
    if (prefix && req.url?.startsWith(prefix)) req.url = req.url.slice(prefix.length) || "/";
    if (req.method === "POST" && req.url === "/token") {
      const params = new URLSearchParams(await readBody(req));
      const audience = params.get("audience");
      if (audience !== null) {
        params.set("resource", audience);
        params.delete("audience");
      }
      // Entra: scope={App ID URI}/.default asks for every granted permission of that API.
      const scope = params.get("scope") ?? "";
      if (scope.endsWith("/.default")) {
        params.set("resource", scope.slice(0, -"/.default".length));
        params.set("scope", api.scopes.join(" "));
      }
      (req as unknown as { body: string }).body = params.toString();
    }
    handler(req, res);
  });
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
