/**
 * `npm run demo`: the whole M2M flow of the providers' guides on one machine, no account needed.
 * A local authorization server (demo/m2m.dev.json), an Express API and a Fastify API protected by
 * m2m-kit, a daemon that calls both with cached tokens, and an agent that calls an MCP server's tool.
 * Prints what happened; exits 0.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import Fastify from "fastify";
import { ClientCredentialsClient, type ClientEvent, createVerifier, OAuthError } from "m2m-kit";
import { startDevServer } from "m2m-kit/dev-server";
import { requireAuth, requireScopes } from "m2m-kit/express";
import m2mAuth from "m2m-kit/fastify";
import { mcpClientAuth, mcpRequireAuth } from "m2m-kit/mcp";

// This process is the demo's own: oidc-provider's notice that it prefers a newer Node LTS is not part of
// the story (the dev server works on every Node the package supports).
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING: Unsupported runtime")) return;
  warn(...args);
};

const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
const MCP = "https://mcp.example.com/mcp";
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
const ok = (s: string) => console.log(`  ${color ? "\x1b[32m✓\x1b[0m" : "✓"} ${s}`);
const step = (s: string) => console.log(`\n${bold(s)}`);
let failures = 0;
const check = (condition: boolean, message: string) => {
  if (condition) ok(message);
  else {
    failures++;
    console.log(`  ✗ ${message}`);
  }
};

async function main() {
  step("1. A local M2M authorization server, configured like a provider's console");
  const dev = await startDevServer({
    configPath: fileURLToPath(new URL("./m2m.dev.json", import.meta.url)),
    keysPath: false,
  });
  console.log(`  issuer ${dev.issuer}`);
  for (const api of dev.config.apis)
    console.log(`  API ${api.identifier} (${api.name}) scopes: ${api.scopes.join(", ")}`);
  for (const app of dev.config.apps) {
    const grants = Object.entries(app.grants).map(([api, scopes]) => `${api} → ${scopes.join(", ")}`);
    console.log(`  app ${app.clientId}${app.enabled === false ? " (disabled)" : ""}: ${grants.join("; ")}`);
  }

  step("2. Two APIs protected by m2m-kit");
  const ordersVerifier = createVerifier({ issuer: dev.issuer, audience: ORDERS });
  const orders = express();
  orders.use(requireAuth(ordersVerifier, { realm: "orders" }));
  orders.get("/orders", requireScopes("read:orders"), (req, res) => {
    res.json({ orders: [{ id: 1, total: 42 }], client: req.auth?.clientId });
  });
  orders.post("/orders", requireScopes("write:orders"), (_req, res) => {
    res.status(201).json({ id: 2 });
  });
  const ordersServer = createServer(orders).listen(0, "127.0.0.1");
  await new Promise((resolve) => ordersServer.once("listening", resolve));
  const ordersUrl = `http://127.0.0.1:${(ordersServer.address() as AddressInfo).port}`;
  console.log(`  Express orders API  ${ordersUrl}  (GET /orders needs read:orders, POST needs write:orders)`);

  const billing = Fastify();
  await billing.register(m2mAuth, { issuer: dev.issuer, audience: BILLING, realm: "billing" });
  billing.get("/invoices", { config: { scopes: ["read:invoices"] } }, async (request) => ({
    invoices: [{ id: "inv-1" }],
    client: request.auth?.clientId,
  }));
  const billingUrl = await billing.listen({ port: 0, host: "127.0.0.1" });
  console.log(`  Fastify billing API ${billingUrl}  (GET /invoices needs read:invoices)`);

  step("3. A daemon calls both APIs with ClientCredentialsClient");
  const events: ClientEvent[] = [];
  const daemon = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "report-job",
    clientSecret: "demo-secret-only-for-local-use",
    onEvent: (event) => events.push(event),
  });
  let okCalls = 0;
  for (let i = 0; i < 100; i++) {
    const res = await daemon.fetch(`${ordersUrl}/orders`, { audience: ORDERS, scope: "read:orders" });
    if (res.status === 200) okCalls++;
    await res.arrayBuffer();
  }
  const fetched = () => events.filter((e) => e.type === "token_fetched").length;
  check(
    okCalls === 100 && fetched() === 1,
    `${okCalls} calls to the orders API, ${fetched()} token request: the cached token served them all`,
  );
  for (let i = 0; i < 20; i++) {
    const res = await daemon.fetch(`${billingUrl}/invoices`, { audience: BILLING, scope: "read:invoices" });
    await res.arrayBuffer();
  }
  check(
    fetched() === 2,
    `20 calls to the billing API added ${fetched() - 1} token request (one per audience)`,
  );
  const token = await daemon.getToken({ audience: ORDERS, scope: "read:orders" });
  console.log(`  the token: ${token} — scopes [${token.scope.join(", ")}]`);

  step("4. What the APIs refuse");
  const post = await daemon.fetch(`${ordersUrl}/orders`, {
    method: "POST",
    audience: ORDERS,
    scope: "read:orders",
  });
  check(post.status === 403, `POST /orders without write:orders → ${post.status}`);
  console.log(`    WWW-Authenticate: ${post.headers.get("www-authenticate")}`);
  await post.arrayBuffer();

  const forged = token.accessToken.replace(/\.([^.]+)\./, (_m, payload: string) => {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    claims.scope = "read:orders write:orders";
    return `.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
  });
  const forgedRes = await fetch(`${ordersUrl}/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${forged}` },
  });
  check(forgedRes.status === 401, `a forged token (scope edited in the payload) → ${forgedRes.status}`);
  console.log(`    WWW-Authenticate: ${forgedRes.headers.get("www-authenticate")}`);

  const none = await fetch(`${ordersUrl}/orders`);
  check(none.status === 401, `no token at all → ${none.status}, ${none.headers.get("www-authenticate")}`);

  step("5. What the authorization server refuses");
  const greedy = await daemon.getToken({ audience: ORDERS, scope: "write:orders" }).catch((e: unknown) => e);
  check(
    greedy instanceof OAuthError && greedy.error === "invalid_scope",
    `asking for a scope the app is not granted → ${(greedy as OAuthError).error}: ${(greedy as OAuthError).errorDescription}`,
  );
  const retired = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "retired-app",
    clientSecret: "demo-secret-retired",
  });
  const refused = await retired.getToken({ audience: ORDERS }).catch((e: unknown) => e);
  check(
    refused instanceof OAuthError && refused.error === "invalid_client",
    `a disabled app → ${(refused as OAuthError).error}`,
  );

  step("6. An agent calls a tool of an MCP server (MCP authorization: RFC 9728 metadata, RFC 8707 resource)");
  const mcpApp = express();
  // m2m-kit's gate: tokens for this resource only; it serves the resource metadata and names it.
  mcpApp.use(
    mcpRequireAuth({ issuer: dev.issuer, audience: MCP, resource: MCP, requiredScopes: ["orders:read"] }),
  );
  mcpApp.use(express.json());
  mcpApp.post("/mcp", async (req, res) => {
    const server = new McpServer({ name: "orders", version: "1.0.0" });
    server.registerTool("list_orders", { description: "Lists the open orders" }, async (extra) => ({
      content: [
        { type: "text", text: JSON.stringify({ orders: [{ id: 1 }], client: extra.authInfo?.clientId }) },
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
  mcpApp.all("/mcp", (_req, res) => {
    res.status(405).set("allow", "POST").end();
  });
  const mcpServer = createServer(mcpApp).listen(0, "127.0.0.1");
  await new Promise((resolve) => mcpServer.once("listening", resolve));
  const mcpOrigin = `http://127.0.0.1:${(mcpServer.address() as AddressInfo).port}`;
  console.log(`  MCP server ${mcpOrigin}/mcp, known to the authorization server as ${MCP}`);
  const anonymous = await fetch(`${mcpOrigin}/mcp`, { method: "POST" });
  check(
    anonymous.status === 401,
    `an agent without a token → ${anonymous.status}, ${anonymous.headers.get("www-authenticate")}`,
  );
  const metadata = await (await fetch(`${mcpOrigin}/.well-known/oauth-protected-resource/mcp`)).json();
  console.log(
    `    the metadata: resource ${metadata.resource}, authorization server ${metadata.authorization_servers}, scopes ${metadata.scopes_supported}`,
  );
  const agentEvents: ClientEvent[] = [];
  const agent = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "orders-agent",
    clientSecret: "agent-secret-only-for-local-use",
    onEvent: (event) => agentEvents.push(event),
  });
  const mcp = new Client({ name: "orders-agent", version: "1.0.0" });
  await mcp.connect(
    new StreamableHTTPClientTransport(
      new URL(`${mcpOrigin}/mcp`),
      mcpClientAuth(agent, { resource: MCP, serverUrl: `${mcpOrigin}/mcp` }),
    ),
  );
  const { tools } = await mcp.listTools();
  const called = await mcp.callTool({ name: "list_orders", arguments: {} });
  const [answer] = called.content as Array<{ text?: string }>;
  const agentTokens = agentEvents.filter((e) => e.type === "token_fetched").length;
  check(
    tools.length === 1 && agentTokens === 1 && answer?.text?.includes('"client":"orders-agent"') === true,
    `the agent (an MCP client) listed the tools [${tools.map((tool) => tool.name).join(", ")}] and called list_orders with ${agentTokens} token for resource=${MCP}: ${answer?.text}`,
  );
  await mcp.close();
  await agent.close();
  await new Promise((resolve) => mcpServer.close(resolve));

  await daemon.close();
  await retired.close();
  await billing.close();
  await new Promise((resolve) => ordersServer.close(resolve));
  await dev.close();
  console.log(
    failures === 0
      ? `\n${bold("Done.")} Try it yourself: npm run m2m -- dev --config demo/m2m.dev.json`
      : `\n${failures} check(s) failed`,
  );
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
