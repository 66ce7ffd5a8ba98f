import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");

it("npm run demo's script runs the whole flow, prints the narrative and exits 0", async () => {
  const { stdout } = await run(
    join(root, "node_modules/.bin/tsx"),
    ["--tsconfig", "demo/tsconfig.json", "demo/run.ts"],
    {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  expect(stdout).toContain(
    "✓ 100 calls to the orders API, 1 token request: the cached token served them all",
  );
  expect(stdout).toMatch(
    /✓ POST \/orders without write:orders → 403\n\s+WWW-Authenticate: Bearer realm="orders", error="insufficient_scope"/,
  );
  expect(stdout).toContain("✓ a forged token (scope edited in the payload) → 401");
  expect(stdout).toContain("✓ asking for a scope the app is not granted → invalid_scope");
  expect(stdout).toContain("✓ a disabled app → invalid_client");
  expect(stdout).not.toContain("✗");
  expect(stdout).not.toContain("demo-secret-only-for-local-use");
});
