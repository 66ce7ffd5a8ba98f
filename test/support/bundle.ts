/**
 * Bundles a few lines of user code with esbuild as an application bundler would (minified ESM,
 * tree-shaken), for the bundle checks and `npm run bench:size`. `m2m-kit` resolves to this
 * repository's built package (dist/ through package.json "exports" and "imports", as installed),
 * every other package to this repository's node_modules.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build, type Metafile } from "esbuild";

const root = resolve(import.meta.dirname, "../..");

export interface Bundle {
  /** The minified bundle. */
  text: string;
  /** Its size in bytes, minified. */
  bytes: number;
  /** Its size in bytes, minified then gzipped (level 9). */
  gzipBytes: number;
  /** Imports esbuild left in the output (a Node builtin, a `node:` module). */
  externals: string[];
}

/** A folder whose node_modules has this package as `m2m-kit` beside the repository's dependencies. */
export async function bundleWorkspace(): Promise<{ dir: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "m2m-kit-bundle-"));
  await mkdir(join(dir, "node_modules"));
  await symlink(root, join(dir, "node_modules", "m2m-kit"), "dir");
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Bundles `source` (an ES module) for `platform`: `neutral` resolves with no runtime condition (only
 * `import` and `default`), `browser` with `browser`.
 */
export async function bundle(dir: string, source: string, platform: "neutral" | "browser"): Promise<Bundle> {
  const entry = join(dir, `entry-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(entry, source);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    write: false,
    format: "esm",
    platform,
    target: "es2022",
    metafile: true,
    nodePaths: [join(root, "node_modules")],
    logLevel: "silent",
  });
  const text = result.outputFiles[0]!.text;
  const outputs = Object.values((result.metafile as Metafile).outputs);
  return {
    text,
    bytes: Buffer.byteLength(text),
    gzipBytes: gzipSync(text, { level: 9 }).length,
    externals: outputs.flatMap((output) => output.imports.map((i) => i.path)),
  };
}
