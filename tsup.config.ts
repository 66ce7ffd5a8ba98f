import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "platform/node": "src/platform/node.ts",
    "platform/web": "src/platform/web.ts",
  },
  // Resolved at run time through package.json "imports" (the `node` condition picks node:crypto).
  external: ["#platform"],
  format: ["esm", "cjs"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  splitting: true,
  treeshake: true,
});
