import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");

it("npm run demo prints the story and nothing else, exits 0", async () => {
  const { stdout, stderr } = await run("npm", ["run", "demo"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
  });
  // npm's two banner lines, then the story: no build output, no bundler warning.
  const lines = stdout.split("\n");
  expect(lines.slice(0, 4)).toEqual([
    "",
    "> m2m-kit@0.1.0 demo",
    expect.stringMatching(/^> node scripts\/build\.mjs --if-stale && tsx /),
    "",
  ]);
  expect(lines[4]).toBe("");
  expect(lines[5]).toBe("1. A local M2M authorization server, configured like a provider's console");
  // dist/ is built before the suite; a stale one is rebuilt with this single line and no more.
  expect(stderr).toMatch(/^(building dist\/ first \(the sources changed since the last build\)…\n)?$/);
  expect(stdout).toContain(
    "✓ 100 calls to the orders API, 1 token request: the cached token served them all",
  );
  expect(stdout).toMatch(
    /✓ POST \/orders without write:orders → 403\n\s+WWW-Authenticate: Bearer realm="orders", error="insufficient_scope"/,
  );
  expect(stdout).toContain("✓ a forged token (scope edited in the payload) → 401");
  expect(stdout).toContain("✓ asking for a scope the app is not granted → invalid_scope");
  expect(stdout).toContain("✓ a disabled app → invalid_client");
  expect(stdout).toContain(
    '✓ an agent without a token → 401, Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
  );
  expect(stdout).toMatch(
    /✓ the agent \(an MCP client\) listed the tools \[list_orders\] and called list_orders with 1 token for resource=https:\/\/mcp\.example\.com\/mcp: \{"orders":\[\{"id":1\}\],"client":"orders-agent"\}/,
  );
  expect(stdout).not.toContain("✗");
  expect(stdout).not.toContain("demo-secret-only-for-local-use");
}, 120_000);
