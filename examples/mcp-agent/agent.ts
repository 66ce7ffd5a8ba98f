/**
 * An agent: an MCP client that lists and calls a server's tools with client credentials, no user
 * and no browser. m2m-kit's client gets a token for the server's resource (RFC 8707 `resource=`),
 * caches it, and the MCP SDK's Streamable HTTP transport sends it with every request.
 *
 *   ISSUER=http://127.0.0.1:4000 CLIENT_ID=orders-agent CLIENT_SECRET=agent-secret-only-for-local-use \
 *   RESOURCE=https://mcp.example.com/mcp MCP_URL=http://127.0.0.1:3001/mcp npx tsx examples/mcp-agent/agent.ts
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsClient } from "m2m-kit";
import { mcpClientAuth } from "m2m-kit/mcp";

const url = new URL(process.env.MCP_URL ?? "http://127.0.0.1:3001/mcp");
// The server's identifier at the authorization server (its public URL); where it runs may differ.
const resource = process.env.RESOURCE ?? url.href;

const credentials = new ClientCredentialsClient({
  issuer: process.env.ISSUER ?? "",
  clientId: process.env.CLIENT_ID ?? "",
  clientSecret: process.env.CLIENT_SECRET ?? "",
  onEvent: (event) => {
    if (event.type === "token_fetched") console.log(`token fetched for ${event.audience}`);
  },
});

const mcp = new Client({ name: "orders-agent", version: "1.0.0" });
// The token for resource goes to url only (serverUrl): never to a server the agent was not pointed at.
await mcp.connect(
  new StreamableHTTPClientTransport(url, mcpClientAuth(credentials, { resource, serverUrl: url.href })),
);
const { tools } = await mcp.listTools();
console.log(`tools: ${tools.map((tool) => tool.name).join(", ")}`);
for (const tool of tools) {
  const result = await mcp.callTool({ name: tool.name, arguments: {} });
  const [content] = result.content as Array<{ type: string; text?: string }>;
  console.log(`${tool.name}: ${content?.text}`);
}
await mcp.close();
await credentials.close();
