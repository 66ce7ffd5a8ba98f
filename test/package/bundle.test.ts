/**
 * The built package in an application bundle (esbuild, minified, tree-shaken) for the platforms
 * without Node: `neutral` (no runtime condition) and `browser`. The core and its fetch-API adapters
 * bundle with no Node builtin and no `node:` import left, and an import of the verifier alone does
 * not carry the client. Sizes against jose and oauth4webapi: `npm run bench:size` (BENCHMARKS.md).
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, bundleWorkspace } from "../support/bundle.js";

const root = resolve(import.meta.dirname, "../..");
let workspace: Awaited<ReturnType<typeof bundleWorkspace>>;

beforeAll(async () => {
  // dist/ as `npm test` builds it (rebuilt here only when the sources are newer).
  await promisify(execFile)(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: root });
  workspace = await bundleWorkspace();
}, 300_000);

afterAll(() => workspace?.close());

const NODE_IMPORT =
  /\bnode:[a-z_/]+|(?:from|import|require)\s*\(?\s*["'](?:crypto|fs|http|https|net|tls|os|path|url|util|stream|zlib|buffer|events|diagnostics_channel|worker_threads|child_process)["']/;

const sources = {
  core: `export * from "m2m-kit";`,
  "verifier only": `import { createVerifier } from "m2m-kit"; export const v = createVerifier;`,
  "client only": `import { ClientCredentialsClient } from "m2m-kit"; export const c = ClientCredentialsClient;`,
  "m2m-kit/web": `export * from "m2m-kit/web";`,
  "m2m-kit/hono": `export * from "m2m-kit/hono";`,
};

describe.each(["neutral", "browser"] as const)("%s bundle", (platform) => {
  it.each(Object.entries(sources))("%s: no Node builtin, no node: import", async (_name, source) => {
    const out = await bundle(workspace.dir, source, platform);
    expect(out.externals.filter((path) => path !== "hono" && !path.startsWith("hono/"))).toEqual([]);
    expect(out.text.match(NODE_IMPORT)?.[0]).toBeUndefined();
  });

  it("the verifier alone does not carry the client, nor the client the verifier", async () => {
    const verifier = await bundle(workspace.dir, sources["verifier only"], platform);
    const client = await bundle(workspace.dir, sources["client only"], platform);
    const core = await bundle(workspace.dir, sources.core, platform);
    expect(verifier.text).not.toContain("ClientCredentialsClient options must be an object");
    expect(verifier.text).toContain("verifier options must be an object");
    expect(client.text).not.toContain("verifier options must be an object");
    expect(client.text).toContain("ClientCredentialsClient options must be an object");
    expect(verifier.bytes).toBeLessThan(core.bytes * 0.75);
    expect(client.bytes).toBeLessThan(core.bytes * 0.75);
  });
});
