/**
 * The MCP TypeScript SDK on both ends, as its own examples use it: an Express handler that serves an
 * `McpServer` with one tool through a stateless `StreamableHTTPServerTransport`, and a `Client` on
 * the `StreamableHTTPClientTransport`. The tool, `whoami`, answers the `AuthInfo` the transport
 * handed it (`extra.authInfo`, from `req.auth`).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  type StreamableHTTPClientTransportOptions,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Request, Response } from "express";

declare module "vitest" {
  export interface ProvidedContext {
    /** The `@modelcontextprotocol/sdk` version the project resolves (vitest.config.ts): "latest" or "1.16.0". */
    mcpSdk: string;
  }
}

/** Serves one MCP request (POST); GET and DELETE are 405, as a stateless server answers them. */
export async function mcpHandler(req: Request, res: Response): Promise<void> {
  if (req.method !== "POST") {
    res.status(405).set("allow", "POST").end();
    return;
  }
  const server = new McpServer({ name: "orders", version: "1.0.0" });
  server.registerTool("whoami", { description: "The caller, as the server sees it" }, async (extra) => ({
    content: [{ type: "text", text: JSON.stringify(extra.authInfo ?? null) }],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

/** What `whoami` answers: the `AuthInfo` after JSON (`resource` is its URL string). */
export interface SeenAuth {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  resource: string;
  extra: { claims: Record<string, unknown>; tenant?: string; actor?: unknown };
}

/** An MCP client connected to `url` with the transport options given (`mcpClientAuth(…)`). */
export async function connectMcp(
  url: string,
  options: StreamableHTTPClientTransportOptions,
): Promise<{ client: Client; whoami: () => Promise<SeenAuth>; close: () => Promise<void> }> {
  const client = new Client({ name: "agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), options));
  return {
    client,
    async whoami() {
      const result = await client.callTool({ name: "whoami", arguments: {} });
      const [first] = result.content as Array<{ type: string; text: string }>;
      return JSON.parse(first?.text ?? "null") as SeenAuth;
    },
    close: () => client.close(),
  };
}
