import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    express: "src/express/index.ts",
    fastify: "src/fastify/index.ts",
    web: "src/web/index.ts",
    hono: "src/hono/index.ts",
    "platform/node": "src/platform/node.ts",
    "platform/web": "src/platform/web.ts",
  },
  // Resolved at run time through package.json "imports" (the `node` condition picks node:crypto).
  external: ["#platform", "express", "fastify", "fastify-plugin", "hono"],
  format: ["esm", "cjs"],
  dts: {
    entry: {
      index: "src/index.ts",
      express: "src/express/index.ts",
      fastify: "src/fastify/index.ts",
      web: "src/web/index.ts",
      hono: "src/hono/index.ts",
    },
  },
  sourcemap: true,
  clean: true,
  target: "es2022",
  splitting: true,
  treeshake: true,
});
