import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

/**
 * The MCP tests run again against `@modelcontextprotocol/sdk` 1.16.0 (the dev dependency
 * `mcp-sdk-1.16`), the oldest version m2m-kit/mcp supports, on Node 20 only: .ci/run runs npm test
 * on Node 20 and then on Node 24, so one pass covers it.
 */
const oldestMcpSdk = process.versions.node.split(".")[0] === "20";

/**
 * `M2M_HEAVY_TESTS=skip` leaves out the suites whose subject does not change with the Node version
 * and that cost the most (fleets of child processes and redis-servers, packing and type-checking
 * the package, the MCP SDK versions, the examples, the heap measurement): .ci/run runs them on its
 * Node 20 pass and the rest again on Node 24, where the runtime suite has already run the packed
 * package over real sockets.
 */
const heavy = [
  "test/fleet/**",
  "test/redis/**",
  "test/package/**",
  "test/mcp/**",
  "test/examples/**",
  "examples/**",
  "test/client/memory.test.ts",
];
const exclude = process.env.M2M_HEAVY_TESTS === "skip" ? heavy : [];
if (process.env.M2M_HEAVY_TESTS !== undefined && process.env.M2M_HEAVY_TESTS !== "skip") {
  throw new TypeError(`M2M_HEAVY_TESTS must be "skip" or unset, not ${process.env.M2M_HEAVY_TESTS}`);
}

export default defineConfig({
  resolve: {
    // Examples import "m2m-kit" as users do; in the test suite that is this repository's source.
    alias: [
      { find: /^m2m-kit$/, replacement: src("index.ts") },
      { find: /^m2m-kit\/(.+)$/, replacement: src("$1/index.ts") },
    ],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // A passing run prints no oidc-provider warning: the setup file fails a test that makes it print one.
    setupFiles: ["./test/support/quiet-oidc-provider.ts"],
    projects: [
      {
        extends: true,
        // Node: the `node` condition of the package's `imports` map (node:crypto).
        resolve: { alias: { "#platform": src("platform/node.ts") } },
        test: {
          name: "node",
          include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
          exclude: ["**/node_modules/**", ...exclude],
          provide: { mcpSdk: "latest" },
        },
      },
      {
        extends: true,
        // Every other runtime: WebCrypto through jose. The verifier's checks run again on it.
        resolve: { alias: { "#platform": src("platform/web.ts") } },
        test: {
          name: "web-platform",
          include: [
            "test/verify/checks.test.ts",
            "test/verify/properties.test.ts",
            "test/verify/rotation.test.ts",
            // DPoP proofs: the §4.3 checks, the attack table and replays, on jose and WebCrypto.
            "test/dpop/protocol.test.ts",
            "test/dpop/proof-checks.test.ts",
            "test/dpop/adapters.test.ts",
            "test/dpop/fast-path.test.ts",
          ],
        },
      },
      ...(oldestMcpSdk && exclude.length === 0
        ? [
            {
              extends: true as const,
              resolve: {
                alias: [
                  { find: "#platform", replacement: src("platform/node.ts") },
                  // m2m-kit's own import of the SDK and the test's alike.
                  { find: /^@modelcontextprotocol\/sdk\/(.+)$/, replacement: "mcp-sdk-1.16/$1" },
                ],
              },
              test: {
                name: "mcp-sdk-1.16",
                include: ["test/mcp/sdk.test.ts"],
                provide: { mcpSdk: "1.16.0" },
              },
            },
          ]
        : []),
    ],
  },
});
