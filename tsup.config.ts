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
  redis: "src/redis/index.ts",
};

const entry = {
  ...publicEntries,
  "cli/index": "src/cli/index.ts",
  "cli/bin": "src/cli/bin.ts",
  "platform/node": "src/platform/node.ts",
  "platform/web": "src/platform/web.ts",
};

const common = {
  entry,
  // "#platform" is resolved at run time through package.json "imports" (the `node` condition picks
  // node:crypto); frameworks and oidc-provider are the user's.
  external: ["#platform", "express", "fastify", "fastify-plugin", "hono", "oidc-provider"],
  dts: {
    // Declarations only; the isomorphic core is type-checked without Node types by `npm run typecheck`.
    compilerOptions: { types: ["node"] },
    entry: publicEntries,
  },
  sourcemap: true,
  target: "es2022",
  splitting: true,
  treeshake: true,
} as const;

// `npm run build` empties dist/ first: the two builds run side by side.
export default defineConfig([
  { ...common, format: "esm" },
  // jose is ESM only: the CommonJS build carries its own copy, so that loaders that cannot
  // `require` ESM (Jest, Node before 20.19) load the package.
  { ...common, format: "cjs", noExternal: ["jose"] },
]);
