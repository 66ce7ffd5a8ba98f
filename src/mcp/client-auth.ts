import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { ClientCredentialsClient } from "../client/client.js";
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
}

const NAMES: OptionNames<McpClientAuthOptions, McpResourceOptions> = { scope: true };

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
 * logical identifier such as an Auth0 API identifier), and the transport's URL is where it runs.
 *
 * @param client - the client whose credentials and cache are used.
 * @param options - `resource`: the MCP server's URL; `scope`: scopes to request.
 * @returns `{ fetch }` for the transport's options.
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
  return {
    fetch: (url, init) => client.fetch(url, { ...init, ...target }),
  };
}
