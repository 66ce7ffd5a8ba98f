/**
 * An MCP server with one tool, on Express, protected by m2m-kit: the MCP SDK's `requireBearerAuth`
 * checks every request with `mcpTokenVerifier` (a token issued by ISSUER for RESOURCE, with
 * `orders:read`), and the server serves its RFC 9728 resource metadata, so an agent learns from the
 * server which authorization server issues its tokens.
 *
 *   ISSUER=http://127.0.0.1:4000 RESOURCE=https://mcp.example.com/mcp PORT=3001 npx tsx examples/mcp-server/server.ts
 */

import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { getOAuthProtectedResourceMetadataUrl } from "@modelcontextprotocol/sdk/server/auth/router.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import { createVerifier } from "m2m-kit";
import { protectedResourceMetadata } from "m2m-kit/express";
import { mcpTokenVerifier } from "m2m-kit/mcp";

// The identifier the authorization server knows this server by: its public URL.
const resource = process.env.RESOURCE ?? "https://mcp.example.com/mcp";
const verifier = createVerifier({ issuer: process.env.ISSUER ?? "", audience: resource });

const app = express();
// GET /.well-known/oauth-protected-resource/mcp: the resource, its authorization server, its scopes.
app.use(
  protectedResourceMetadata({
    verifier,
    resourceMetadata: { resource, scopesSupported: ["orders:read"], resourceName: "Orders MCP server" },
  }),
);
app.use(express.json());

const gate = requireBearerAuth({
  verifier: mcpTokenVerifier(verifier, { resource }),
  requiredScopes: ["orders:read"],
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(resource)),
});

app.all("/mcp", gate, async (req, res) => {
  if (req.method !== "POST") {
    res.status(405).set("allow", "POST").end();
    return;
  }
  // Stateless: a server and a transport per request.
  const server = new McpServer({ name: "orders", version: "1.0.0" });
  server.registerTool("list_orders", { description: "Lists the open orders" }, async (extra) => ({
    content: [
      {
        type: "text",
        text: JSON.stringify({ orders: [{ id: 1, total: 42 }], client: extra.authInfo?.clientId }),
      },
    ],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});

const listener = app.listen(Number(process.env.PORT ?? 3001), "127.0.0.1", () => {
  const address = listener.address();
  const port = typeof address === "object" && address ? address.port : process.env.PORT;
  console.log(`MCP server for ${resource} listening on http://127.0.0.1:${port}/mcp`);
});
process.once("SIGTERM", () => listener.close());
