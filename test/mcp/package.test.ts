/**
 * The built m2m-kit/mcp as users load it, from ESM and from CommonJS. In a project without
 * `@modelcontextprotocol/sdk`, the entry loads, `mcpClientAuth` and `mcpRequireAuth` work, and
 * `mcpTokenVerifier` reports `MissingPeerDependencyError` naming the package and its install command.
 * In a project with it, the SDK's `requireBearerAuth` answers a token that `mcpTokenVerifier` refuses
 * with 401: the SDK recognises its error classes by identity, and each build of m2m-kit loads the
 * SDK's build of its own module system (ESM imports ESM, CommonJS requires CommonJS).
 *
 * Each project holds dist/ and package.json (as npm unpacks them) and links to the dependencies in
 * this repository's node_modules: no install, no network.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
let work: string;

/** A project with the built package and links to `packages` of this repository's node_modules. */
async function project(name: string, packages: string[]): Promise<string> {
  const dir = join(work, name);
  const installed = join(dir, "node_modules", "m2m-kit");
  await mkdir(installed, { recursive: true });
  await cp(join(root, "dist"), join(installed, "dist"), { recursive: true });
  await cp(join(root, "package.json"), join(installed, "package.json"));
  for (const name of ["jose", "lru-cache", "undici", ...packages]) {
    await mkdir(join(dir, "node_modules", name, ".."), { recursive: true });
    await symlink(join(root, "node_modules", name), join(dir, "node_modules", name), "dir");
  }
  await writeFile(join(dir, "package.json"), JSON.stringify({ name, private: true }));
  return dir;
}

async function node(dir: string, file: string, source: string): Promise<Record<string, unknown>> {
  await writeFile(join(dir, file), source);
  const { stdout } = await run(process.execPath, [file], { cwd: dir });
  return JSON.parse(stdout.trim());
}

let bare: string;
let withSdk: string;

beforeAll(async () => {
  // dist/ as `npm test` builds it (rebuilt here only when the sources are newer).
  await run(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: root });
  work = await mkdtemp(join(tmpdir(), "m2m-kit-mcp-"));
  bare = await project("bare", []);
  withSdk = await project("with-sdk", ["@modelcontextprotocol/sdk", "express"]);
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const RESOURCE = "https://mcp.example.com/mcp";

/** The checks of the project without the SDK, for both module systems (`load` imports or requires). */
const withoutSdk = `
const mcp = await load("m2m-kit/mcp");
const core = await load("m2m-kit");
const options = { issuer: "https://tenant.example.com/", audience: "${RESOURCE}" };
// Created and never used: no unhandled rejection.
mcp.mcpTokenVerifier(options, { resource: "${RESOURCE}" });
const error = await mcp.mcpTokenVerifier(options, { resource: "${RESOURCE}" }).verifyAccessToken("a.b.c").catch((e) => e);
const client = new core.ClientCredentialsClient({ tokenEndpoint: "https://as.example.com/token", clientId: "c", clientSecret: "s" });
await new Promise((resolve) => setTimeout(resolve, 20));
console.log(JSON.stringify({
  error: { name: error.name, code: error.code, packageName: error.packageName, installCommand: error.installCommand, message: error.message },
  sameClass: error instanceof core.MissingPeerDependencyError && mcp.MissingPeerDependencyError === core.MissingPeerDependencyError,
  clientAuth: typeof mcp.mcpClientAuth(client, { resource: "${RESOURCE}" }).fetch,
  gate: typeof mcp.mcpRequireAuth({ ...options, resource: "${RESOURCE}" }),
}));
`;

/** The SDK's gate with m2m-kit's verifier of the same module system, over HTTP. */
const withTheSdk = `
const app = express();
const verifier = mcpTokenVerifier({ issuer: "https://tenant.example.com/", audience: "${RESOURCE}" }, { resource: "${RESOURCE}" });
app.post("/mcp", requireBearerAuth({ verifier }), (_req, res) => res.json({ ok: true }));
const server = app.listen(0, "127.0.0.1");
await new Promise((resolve) => server.once("listening", resolve));
const res = await fetch("http://127.0.0.1:" + server.address().port + "/mcp", { method: "POST", headers: { authorization: "Bearer a.b.c" } });
server.close();
console.log(JSON.stringify({ status: res.status, body: await res.json(), challenge: res.headers.get("www-authenticate") }));
`;

describe.each(["ESM", "CommonJS"] as const)("the built m2m-kit/mcp from %s", (system) => {
  const script = (body: string, loads: string) =>
    system === "ESM"
      ? { file: "check.mjs", source: `${loads}\n${body}` }
      : { file: "check.cjs", source: `${loads}\n(async () => {${body}})();` };

  it("without @modelcontextprotocol/sdk: the entry loads; mcpTokenVerifier reports MissingPeerDependencyError", async () => {
    const { file, source } = script(
      withoutSdk,
      system === "ESM"
        ? "const load = (name) => import(name);"
        : "const load = async (name) => require(name);",
    );
    expect(await node(bare, file, source)).toEqual({
      error: {
        name: "MissingPeerDependencyError",
        code: "ERR_MISSING_PEER_DEPENDENCY",
        packageName: "@modelcontextprotocol/sdk",
        installCommand: "npm install @modelcontextprotocol/sdk",
        message:
          "m2m-kit/mcp needs the @modelcontextprotocol/sdk package: npm install @modelcontextprotocol/sdk",
      },
      sameClass: true,
      clientAuth: "function",
      gate: "function",
    });
  });

  it("with it: the SDK's requireBearerAuth answers a refused token 401 invalid_token, never 500", async () => {
    const loads =
      system === "ESM"
        ? `import express from "express";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { mcpTokenVerifier } from "m2m-kit/mcp";`
        : `const express = require("express");
const { requireBearerAuth } = require("@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js");
const { mcpTokenVerifier } = require("m2m-kit/mcp");`;
    const { file, source } = script(withTheSdk, loads);
    const result = await node(withSdk, file, source);
    expect(result).toMatchObject({ status: 401, body: { error: "invalid_token" } });
    expect(result.challenge).toMatch(/^Bearer error="invalid_token", error_description="token /);
  });
});
