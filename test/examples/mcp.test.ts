/**
 * examples/mcp-server and examples/mcp-agent, as their READMEs run them: the dev server from
 * demo/m2m.dev.json, the server started with ISSUER and RESOURCE, the agent with the demo's
 * `orders-agent` app. Ports are free ones instead of 4000 and 3001.
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { type Started, startProcess } from "../support/process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const tsx = join(root, "node_modules/.bin/tsx");
const RESOURCE = "https://mcp.example.com/mcp";
const SECRET = "agent-secret-only-for-local-use";
let dev: DevServer;
let server: Started;
let url: string;

beforeAll(async () => {
  dev = await startDevServer({ configPath: join(root, "demo/m2m.dev.json"), keysPath: false });
  server = await startProcess(
    tsx,
    ["--tsconfig", "examples/tsconfig.json", "examples/mcp-server/server.ts"],
    {
      cwd: root,
      env: { ISSUER: dev.issuer, RESOURCE, PORT: "0" },
      ready: /listening on (http:\/\/127\.0\.0\.1:\d+)\/mcp/,
      timeoutMs: 100_000,
    },
  );
  url = server.match[1] as string;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await dev?.close();
});

it("examples/mcp-server serves its resource metadata and points agents without a token at it", async () => {
  const metadata = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`);
  expect(await metadata.json()).toEqual({
    resource: RESOURCE,
    authorization_servers: [dev.issuer],
    scopes_supported: ["orders:read"],
    bearer_methods_supported: ["header"],
    resource_name: "Orders MCP server",
  });
  const res = await fetch(`${url}/mcp`, { method: "POST" });
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toContain(
    'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
  );
});

it("examples/mcp-agent lists and calls the server's tool with one token for resource=RESOURCE", async () => {
  const { stdout } = await run(tsx, ["--tsconfig", "examples/tsconfig.json", "examples/mcp-agent/agent.ts"], {
    cwd: root,
    env: {
      ...process.env,
      ISSUER: dev.issuer,
      CLIENT_ID: "orders-agent",
      CLIENT_SECRET: SECRET,
      RESOURCE,
      MCP_URL: `${url}/mcp`,
    },
  });
  expect(stdout.trim().split("\n")).toEqual([
    `token fetched for ${RESOURCE}`,
    "tools: list_orders",
    'list_orders: {"orders":[{"id":1,"total":42}],"client":"orders-agent"}',
  ]);
  expect(dev.tokenRequests).toBe(1);
  expect(stdout).not.toContain(SECRET);
}, 120_000);
