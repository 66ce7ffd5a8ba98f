/**
 * Bundle sizes (`npm run bench:size`): what each import costs an application bundle, m2m-kit against
 * jose and oauth4webapi doing the same job. esbuild, minified ESM, tree-shaken, `platform: "browser"`
 * (a Worker or edge bundle); gzip level 9. Prints a Markdown table for BENCHMARKS.md.
 */
import { readFileSync } from "node:fs";
import { bundle, bundleWorkspace } from "../test/support/bundle.js";

const version = (name: string) =>
  (
    JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;

const cases: Array<[string, string, string]> = [
  ["m2m-kit", 'everything in the core entry (`export * from "m2m-kit"`)', `export * from "m2m-kit";`],
  [
    "m2m-kit",
    "verifier only (`createVerifier`: discovery, JWKS cache, checks)",
    `import { createVerifier } from "m2m-kit"; export const v = createVerifier;`,
  ],
  [
    "m2m-kit",
    "client only (`ClientCredentialsClient`: cache, refresh, retries)",
    `import { ClientCredentialsClient } from "m2m-kit"; export const c = ClientCredentialsClient;`,
  ],
  [
    "m2m-kit/web",
    "verifier + `withAuth`",
    `import { createVerifier } from "m2m-kit"; import { withAuth } from "m2m-kit/web"; export { createVerifier, withAuth };`,
  ],
  [
    `jose ${version("jose")}`,
    "`jwtVerify` + `createRemoteJWKSet`",
    `import { jwtVerify, createRemoteJWKSet } from "jose"; export { jwtVerify, createRemoteJWKSet };`,
  ],
  [
    `oauth4webapi ${version("oauth4webapi")}`,
    "client credentials (discovery, `ClientSecretPost`, grant request and response)",
    `import { discoveryRequest, processDiscoveryResponse, ClientSecretPost, clientCredentialsGrantRequest, processClientCredentialsResponse } from "oauth4webapi";
export { discoveryRequest, processDiscoveryResponse, ClientSecretPost, clientCredentialsGrantRequest, processClientCredentialsResponse };`,
  ],
];

const workspace = await bundleWorkspace();
try {
  const kb = (bytes: number) => (bytes / 1024).toFixed(1);
  console.log(`esbuild ${version("esbuild")}, platform browser, minified; gzip level 9\n`);
  console.log("| package | import | min (KiB) | min + gzip (KiB) |");
  console.log("| ------- | ------ | --------: | ---------------: |");
  for (const [name, what, source] of cases) {
    const out = await bundle(workspace.dir, source, "browser");
    console.log(`| ${name} | ${what} | ${kb(out.bytes)} | ${kb(out.gzipBytes)} |`);
  }
} finally {
  await workspace.close();
}
