import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { ClientCredentialsClient } from "../client/client.js";
import { resourceProblem } from "../http/resource-metadata.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { checkResource, MCP_RESOURCE_OPTION_NAMES, type McpResourceOptions } from "./resource.js";

/** Options of {@link mcpClientAuth}. */
export interface McpClientAuthOptions extends McpResourceOptions {
  /**
   * Scopes to request for the MCP server (a list, or space-delimited). Default: none named, so the
   * authorization server grants what the app is authorized for.
   */
  scope?: string | readonly string[];
  /**
   * Where the MCP server runs, when that is not `resource` itself (a local instance of a server known
   * by its public URL, a server whose identifier is not its address): an `https:` URL without query
   * or fragment (`http:` only on a loopback host). The token for `resource` is sent to this URL and
   * the paths below it only (same scheme, host and port); a request the transport makes anywhere
   * else rejects with a `TypeError` before any token is obtained. Default: `resource`.
   */
  serverUrl?: string;
}

const NAMES: OptionNames<McpClientAuthOptions, McpResourceOptions> = { scope: true, serverUrl: true };

const WHERE = "mcpClientAuth()";

/**
 * Client credentials for the MCP TypeScript SDK's Streamable HTTP client transport: pass the result
 * as its options (`new StreamableHTTPClientTransport(url, mcpClientAuth(client, { resource }))`).
 * Every request the transport sends goes through `client.fetch` with `resource` as the audience,
 * requested the way the client's provider preset sends audiences (`resource=`, RFC 8707, without a
 * preset), with the client's cache, refresh, shared store, DPoP and its rule for a 401 (the token is
 * replaced once). Token requests are never handed to the SDK's own OAuth flow (no `authProvider`).
 *
 * `resource` is the identifier the authorization server knows the MCP server by (its URL, or a
 * logical identifier such as an Auth0 API identifier), and the transport's URL is where it runs. The
 * token is sent only to `resource` and the paths below it, or, when the server runs elsewhere, to
 * `serverUrl` and below: a transport pointed at another server gets a `TypeError`, never the token.
 *
 * @param client - the client whose credentials and cache are used.
 * @param options - `resource`: the MCP server's URL; `scope`: scopes to request; `serverUrl`: where
 *   the server runs, when that is not `resource`.
 * @returns `{ fetch }` for the transport's options; it rejects with a `TypeError` for a URL outside
 *   `serverUrl` (default `resource`), before any token is obtained.
 * @throws TypeError at creation for a bad option.
 * @example
 * ```ts
 * import { Client } from "@modelcontextprotocol/sdk/client/index.js";
 * import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
 * import { ClientCredentialsClient } from "m2m-kit";
 * import { mcpClientAuth } from "m2m-kit/mcp";
 *
 * const client = new ClientCredentialsClient({ issuer: "https://tenant.example.com/", clientId, clientSecret });
 * const resource = "https://mcp.example.com/mcp";
 * const mcp = new Client({ name: "agent", version: "1.0.0" });
 * await mcp.connect(new StreamableHTTPClientTransport(new URL(resource), mcpClientAuth(client, { resource })));
 * ```
 */
export function mcpClientAuth(
  client: Pick<ClientCredentialsClient, "fetch">,
  options: McpClientAuthOptions,
): {
  /** The transport's `fetch`: `client.fetch` with the resource as the audience. */
  fetch: FetchLike;
} {
  if (typeof client?.fetch !== "function") {
    throw new TypeError(`${WHERE} needs a ClientCredentialsClient as its first argument`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${WHERE} needs { resource } as its second argument: the MCP server's URL`);
  }
  checkOptionNames(options, [MCP_RESOURCE_OPTION_NAMES, NAMES], `${WHERE} (second argument)`);
  const resource = checkResource(options.resource);
  const server = options.serverUrl === undefined ? resource : checkServerUrl(options.serverUrl);
  const { scope } = options;
  if (scope !== undefined) {
    const scopes = typeof scope === "string" ? scope.split(" ").filter(Boolean) : scope;
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string")) {
      throw new TypeError("scope must be a string or an array of strings");
    }
    checkScopeTokens(scopes, "scope");
  }
  const target = {
    audience: resource,
    ...(scope !== undefined && { scope: typeof scope === "string" ? scope : [...scope] }),
  };
  const within = whereTokensGo(server);
  return {
    fetch: (url, init) => {
      let requested: URL | undefined;
      try {
        // A string or a URL, as the transport passes it; a Request's own URL otherwise.
        requested = new URL(url instanceof URL ? url.href : String((url as { url?: unknown }).url ?? url));
      } catch {}
      if (requested === undefined)
        return Promise.reject(new TypeError(`${WHERE}: the request URL is not a URL`));
      if (!within(requested)) {
        // Before any token is obtained: the token for resource never reaches another server.
        return Promise.reject(
          new TypeError(
            `${WHERE}: the token for ${resource} is sent to ${server} and below only, not to ${requested.origin}${requested.pathname} (serverUrl names where the MCP server runs)`,
          ),
        );
      }
      return client.fetch(url, { ...init, ...target });
    },
  };
}

/** `serverUrl`: a `TypeError` naming it when it is not a URL a token may be sent to. */
function checkServerUrl(value: unknown): string {
  if (typeof value !== "string") throw new TypeError("serverUrl must be the URL the MCP server runs at");
  const problem = resourceProblem(value);
  if (problem !== undefined) throw new TypeError(`serverUrl ${problem}`);
  return value;
}

/**
 * Whether a request URL is `server` or below it: the same origin, and its path or a path under it
 * (segment by segment, as the MCP SDK's `checkResourceAllowed` compares a resource with a server URL).
 */
function whereTokensGo(server: string): (requested: URL) => boolean {
  const base = new URL(server);
  const path = base.pathname.endsWith("/") ? base.pathname : `${base.pathname}/`;
  return (requested) => {
    if (requested.origin !== base.origin || requested.username !== "" || requested.password !== "") {
      return false;
    }
    const asked = requested.pathname.endsWith("/") ? requested.pathname : `${requested.pathname}/`;
    return asked.startsWith(path);
  };
}
