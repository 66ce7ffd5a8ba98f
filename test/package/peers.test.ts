/**
 * The packed package in a fresh project without any optional peer (`@opentelemetry/api`,
 * `oidc-provider`, `hono`, `express`, `fastify`, `redis`, `ioredis`): every entry point loads from ESM
 * and CommonJS, and a feature that needs a missing peer throws `MissingPeerDependencyError`
 * (`ERR_MISSING_PEER_DEPENDENCY`) naming the package and the command that installs it — never a raw
 * "Cannot find module". One pack, one install, one process per module system.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const PEERS = ["@opentelemetry/api", "express", "fastify", "hono", "ioredis", "oidc-provider", "redis"];
let work: string;
let project: string;
let entries: string[];

beforeAll(async () => {
  // dist/ as `npm test` builds it (rebuilt here only when the sources are newer), packed as is.
  await run(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: root });
  work = await mkdtemp(join(tmpdir(), "m2m-kit-peers-"));
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const tarball = join(work, JSON.parse(stdout)[0].filename);
  project = join(work, "project");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: project });
  const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  entries = Object.keys(manifest.exports)
    .filter((path) => path !== "./package.json")
    .map((path) => path.replace(/^\./, "m2m-kit"));
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs `source` as `file` in the consumer project and parses the JSON line it prints. */
async function node(file: string, source: string): Promise<Record<string, unknown>> {
  await writeFile(join(project, file), source);
  const { stdout } = await run(process.execPath, [file], { cwd: project });
  return JSON.parse(stdout.trim());
}

/** The checks, written once for both module systems: `load(name)` imports or requires. */
const checks = `
const core = await load("m2m-kit");
const isPeerError = (e) => typeof core.MissingPeerDependencyError === "function" && e instanceof core.MissingPeerDependencyError;
const describe = (e) => e instanceof Error
  ? { name: e.name, code: e.code, packageName: e.packageName, installCommand: e.installCommand, message: e.message, peer: isPeerError(e) }
  : { thrown: String(e) };
const attempt = async (work) => { try { await work(); return "no error"; } catch (e) { return describe(e); } };
const result = { loaded: {} };
for (const entry of ENTRIES) result.loaded[entry] = await attempt(() => load(entry));
const client = new core.ClientCredentialsClient({ tokenEndpoint: "https://as.example.com/token", clientId: "c", clientSecret: "s" });
const otel = await load("m2m-kit/otel").catch(() => ({}));
result.otel = await attempt(() => otel.instrument(client));
result.otelVerifyAccessToken = await attempt(() => otel.instrument(core.verifyAccessToken));
result.otelSameClass = otel.MissingPeerDependencyError === core.MissingPeerDependencyError;
const dev = await load("m2m-kit/dev-server");
result.devServer = await attempt(() => dev.startDevServer({ config: { apis: [{ identifier: "https://a.example.com", scopes: [] }], apps: [{ clientId: "c", clientSecret: "s", grants: {} }] } }));
const hono = await load("m2m-kit/hono");
const middleware = hono.honoAuth({ issuer: "https://as.example.com/", audience: "https://api.example.com" }, { httpException: true });
const context = { req: { raw: new Request("http://127.0.0.1/data") }, set() {}, get() {}, get executionCtx() { throw new Error("no execution context"); } };
result.honoHttpException = await attempt(() => middleware(context, async () => {}));
const answered = await hono.honoAuth({ issuer: "https://as.example.com/", audience: "https://api.example.com" })(context, async () => {});
result.honoAnswer = answered.status;
console.log(JSON.stringify(result));
`;

const otelMissing = {
  name: "MissingPeerDependencyError",
  code: "ERR_MISSING_PEER_DEPENDENCY",
  packageName: "@opentelemetry/api",
  installCommand: "npm install @opentelemetry/api",
  message: "m2m-kit/otel needs the @opentelemetry/api package: npm install @opentelemetry/api",
  peer: true,
};

describe.each(["ESM", "CommonJS"] as const)(
  "the packed package without optional peers, from %s",
  (system) => {
    let result: Record<string, unknown>;
    beforeAll(async () => {
      for (const peer of PEERS) expect(existsSync(join(project, "node_modules", peer)), peer).toBe(false);
      result =
        system === "ESM"
          ? await node(
              "peers.mjs",
              `const ENTRIES = ${JSON.stringify(entries)};\nconst load = (name) => import(name);\n${checks}`,
            )
          : await node(
              "peers.cjs",
              `const ENTRIES = ${JSON.stringify(entries)};\nconst load = async (name) => require(name);\n(async () => {${checks}})();`,
            );
    }, 60_000);

    it("every entry point loads", () => {
      expect(result.loaded).toEqual(Object.fromEntries(entries.map((entry) => [entry, "no error"])));
    });

    it("m2m-kit/otel: instrument() throws MissingPeerDependencyError naming @opentelemetry/api and its install command", () => {
      expect(result.otel).toEqual(otelMissing);
      expect(result.otelVerifyAccessToken).toEqual(otelMissing);
      expect(result.otelSameClass).toBe(true);
    });

    it("m2m-kit/dev-server: startDevServer() throws MissingPeerDependencyError naming oidc-provider", () => {
      expect(result.devServer).toEqual({
        name: "MissingPeerDependencyError",
        code: "ERR_MISSING_PEER_DEPENDENCY",
        packageName: "oidc-provider",
        installCommand: "npm install --save-dev oidc-provider",
        message: "m2m-kit/dev-server needs the oidc-provider package: npm install --save-dev oidc-provider",
        peer: true,
      });
    });

    it("m2m-kit/hono: answers without hono; httpException: true throws MissingPeerDependencyError naming hono", () => {
      expect(result.honoAnswer).toBe(401);
      expect(result.honoHttpException).toEqual({
        name: "MissingPeerDependencyError",
        code: "ERR_MISSING_PEER_DEPENDENCY",
        packageName: "hono",
        installCommand: "npm install hono",
        message: "m2m-kit/hono (httpException: true) needs the hono package: npm install hono",
        peer: true,
      });
    });
  },
);
