import { defineConfig } from "tsup";

/** The package's public entry points (each one is in package.json "exports", with types). */
const publicEntries = {
  index: "src/index.ts",
  express: "src/express/index.ts",
  fastify: "src/fastify/index.ts",
  web: "src/web/index.ts",
  hono: "src/hono/index.ts",
  testing: "src/testing/index.ts",
  "dev-server": "src/dev-server/index.ts",
  otel: "src/otel/index.ts",
  node: "src/node/index.ts",
  redis: "src/redis/index.ts",
};

export default defineConfig({
  entry: {
    ...publicEntries,
    "cli/index": "src/cli/index.ts",
    "cli/bin": "src/cli/bin.ts",
    "platform/node": "src/platform/node.ts",
    "platform/web": "src/platform/web.ts",
  },
  // "#platform" is resolved at run time through package.json "imports" (the `node` condition picks
  // node:crypto); frameworks and oidc-provider are the user's.
  external: [
    "#platform",
    "@opentelemetry/api",
    "express",
    "fastify",
    "fastify-plugin",
    "hono",
    "oidc-provider",
    "undici",
  ],
  format: ["esm", "cjs"],
  dts: {
    // Declarations only; the isomorphic core is type-checked without Node types by `npm run typecheck`.
    compilerOptions: { types: ["node"] },
    entry: publicEntries,
  },
  sourcemap: true,
  clean: true,
  target: "es2022",
  splitting: true,
  treeshake: true,
});
