import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Examples import "m2m-kit" as users do; in the test suite that is this repository's source.
    alias: {
      "m2m-kit": fileURLToPath(new URL("./src/index.ts", import.meta.url)),
      // Tests run on Node: the `node` condition of the package's `imports` map.
      "#platform": fileURLToPath(new URL("./src/platform/node.ts", import.meta.url)),
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
