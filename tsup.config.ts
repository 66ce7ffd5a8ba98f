import { resolve } from "node:path";
import { defineConfig, type Options } from "tsup";

/** The package's public entry points (each one is in package.json "exports", with types). */
export const publicEntries: Record<string, string> = {
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
  mcp: "src/mcp/index.ts",
};

/** Source file of a public entry → the specifier users import it by (`m2m-kit`, `m2m-kit/web`, …). */
const entrySpecifiers = new Map(
  Object.entries(publicEntries).map(([name, file]) => [
    resolve(file),
    name === "index" ? "m2m-kit" : `m2m-kit/${name}`,
  ]),
);

/**
 * `lru-cache` is imported as the package's `#lru-cache` (package.json "imports"): lru-cache itself on
 * Node, Bun and Deno (the `node` condition), else `dist/platform/lru-cache.*`, which carries
 * lru-cache's browser build (its default build keeps a `node:` import that neutral bundles fail on).
 */
const lruCacheImport: NonNullable<Options["esbuildPlugins"]>[number] = {
  name: "lru-cache-import",
  setup(build) {
    build.onResolve({ filter: /^lru-cache$/ }, () => ({ path: "#lru-cache", external: true }));
  },
};

/**
 * m2m-kit/otel loads its optional peer `@opentelemetry/api` with a top-level `await import()` in ESM
 * (src/otel/load-api.ts), which CommonJS cannot express: the CommonJS build takes
 * src/otel/load-api-require.ts, which `require`s it.
 */
const otelApiRequire: NonNullable<Options["esbuildPlugins"]>[number] = {
  name: "otel-api-require",
  setup(build) {
    build.onResolve({ filter: /^\.\/load-api\.js$/ }, (args) => ({
      path: resolve(args.resolveDir, "load-api-require.ts"),
    }));
  },
};

const shared: Options = {
  // "#platform" is resolved at run time through package.json "imports" (the `node` condition picks
  // node:crypto); frameworks, oidc-provider and the MCP SDK are the user's.
  external: [
    "#platform",
    "@modelcontextprotocol/sdk",
    "@opentelemetry/api",
    "express",
    "fastify",
    "hono",
    "oidc-provider",
    "undici",
  ],
  // Maps without embedded sources: they point stack traces at src/ lines without shipping src/ twice.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  target: "es2022",
};

const library: Options = {
  ...shared,
  entry: {
    ...publicEntries,
    "platform/node": "src/platform/node.ts",
    "platform/web": "src/platform/web.ts",
  },
  // lru-cache: not external to tsup, so that `lruCacheImport` (which runs after tsup's own external
  // plugin) sees it. fastify-plugin (a few lines) is carried by m2m-kit/fastify, so that it is not a
  // dependency of every install.
  noExternal: ["lru-cache", "fastify-plugin"],
  esbuildPlugins: [lruCacheImport],
  dts: {
    // Declarations only; the isomorphic core is type-checked without Node types by `npm run typecheck`.
    compilerOptions: { types: ["node"] },
    entry: publicEntries,
  },
  splitting: true,
};

export default defineConfig([
  // The builds run side by side: each cleans only its own files (the bin's are in dist/cli).
  {
    ...library,
    format: "esm",
    clean: ["**/*.js", "**/*.js.map", "**/*.d.ts", "!cli/**", "!platform/lru-cache.*"],
  },
  {
    ...library,
    format: "cjs",
    clean: ["**/*.cjs", "**/*.cjs.map", "**/*.d.cts", "!platform/lru-cache.*"],
    // jose is ESM only: the CommonJS build carries its own copy, so that loaders that cannot
    // `require` ESM (Jest's CommonJS runtime) load the package.
    noExternal: ["jose", "lru-cache", "fastify-plugin"],
    esbuildPlugins: [lruCacheImport, otelApiRequire],
    esbuildOptions(options) {
      options.sourcesContent = false;
      // tsup turns split ESM chunks into CommonJS with sucrase, which mangles jose's public class
      // fields; esbuild writes them as constructor assignments first.
      options.supported = { "class-field": false, "class-static-field": false };
    },
  },
  {
    ...shared,
    entry: { "platform/lru-cache": "src/platform/lru-cache.ts" },
    format: ["esm", "cjs"],
    // lru-cache's browser build, bundled (see `lruCacheImport`).
    noExternal: ["lru-cache"],
    platform: "browser",
    clean: false,
  },
  {
    ...shared,
    // The `m2m` command: one ESM file (the bin is loaded by `node`, never required). It imports the
    // library through the package's own entry points (a self-reference), so errors it catches are the
    // same classes the library throws and no library code is shipped twice.
    entry: { bin: "src/cli/bin.ts" },
    outDir: "dist/cli",
    format: ["esm"],
    clean: true,
    esbuildPlugins: [
      {
        name: "public-entries",
        setup(build) {
          build.onResolve({ filter: /^\.\.?\// }, (args) => {
            const file = resolve(args.resolveDir, args.path.replace(/\.js$/, ".ts"));
            const specifier = entrySpecifiers.get(file);
            return specifier ? { path: specifier, external: true } : undefined;
          });
        },
      },
    ],
  },
]);
