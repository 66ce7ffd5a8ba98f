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
};

/** Source file of a public entry → the specifier users import it by (`m2m-kit`, `m2m-kit/web`, …). */
const entrySpecifiers = new Map(
  Object.entries(publicEntries).map(([name, file]) => [
    resolve(file),
    name === "index" ? "m2m-kit" : `m2m-kit/${name}`,
  ]),
);

const shared: Options = {
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
  // Maps without embedded sources: they point stack traces at src/ lines without shipping src/ twice.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  target: "es2022",
};

export default defineConfig([
  {
    ...shared,
    entry: {
      ...publicEntries,
      "platform/node": "src/platform/node.ts",
      "platform/web": "src/platform/web.ts",
    },
    format: ["esm", "cjs"],
    dts: {
      // Declarations only; the isomorphic core is type-checked without Node types by `npm run typecheck`.
      compilerOptions: { types: ["node"] },
      entry: publicEntries,
    },
    // The bin below builds into dist/cli at the same time.
    clean: ["!cli/**"],
    splitting: true,
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
