/**
 * The built package as users consume it: `npm pack`, install the tarball into a fresh project with
 * no frameworks, then import it from ESM, CommonJS and a TypeScript `nodenext` project. publint and
 * are-the-types-wrong check the `exports` map and the types.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
let work: string;
let tarball: string;
let server: FaultServer;
let keys: KeyServer;
let jwt: string;

let packed: { filename: string; files: Array<{ path: string }> };
/** What `npm install <tarball>` put in the consumer's node_modules. */
let installed: string[];
const JEST_VERSIONS = [29, 30] as const;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "m2m-kit-pack-"));
  // An unbuilt clone: the repository's files without dist/, sharing node_modules. `npm pack` builds
  // through `prepack`.
  const clone = join(work, "clone");
  const { stdout: files } = await run(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  for (const file of files.split("\0").filter(Boolean)) {
    if (existsSync(join(root, file))) await cp(join(root, file), join(clone, file));
  }
  await symlink(join(root, "node_modules"), join(clone, "node_modules"), "dir");
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: clone,
    maxBuffer: 16 * 1024 * 1024,
  });
  packed = JSON.parse(stdout)[0];
  tarball = join(work, packed.filename);
  const project = join(work, "project");
  await run("mkdir", ["-p", project]);
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, version: "1.0.0" }),
  );
  // Jest projects (CommonJS test files) install beside the consumer, in parallel with it.
  const jestInstalls = JEST_VERSIONS.map(async (major) => {
    const folder = join(work, `jest${major}`);
    await run("mkdir", ["-p", folder]);
    await writeFile(
      join(folder, "package.json"),
      JSON.stringify({ name: `jest${major}-consumer`, private: true, version: "1.0.0" }),
    );
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `jest@${major}`, tarball], {
      cwd: folder,
    });
  });
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: project });
  installed = (await readdir(join(project, "node_modules"))).filter((name) => !name.startsWith("."));
  await Promise.all(jestInstalls);
  server = await startFaultServer();
  keys = await startKeyServer();
  jwt = await keys.sign({ client_id: "packed-client", scope: "read:data" });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await keys?.close();
  await rm(work, { recursive: true, force: true });
});

const consumer = () => join(work, "project");

async function node(file: string, source: string): Promise<string> {
  await writeFile(join(consumer(), file), source);
  const { stdout } = await run(process.execPath, [file], {
    cwd: consumer(),
    env: { ...process.env, TOKEN_URL: server.tokenEndpoint, ISSUER: keys.issuer, JWT: jwt },
  });
  return stdout.trim();
}

const usage = (importLine: string) => `${importLine}
const client = new ClientCredentialsClient({ tokenEndpoint: process.env.TOKEN_URL, clientId: "c", clientSecret: "s" });
const token = await client.getToken();
let typed = false;
try { new ClientCredentialsClient({ clientId: "" }); } catch (e) { typed = e instanceof TypeError; }
const err = new OAuthError({ error: "invalid_client" }, 401);
const auth = await createVerifier({ issuer: process.env.ISSUER, audience: "https://api.example.com" }).verify(process.env.JWT);
const bad = await verifyAccessToken("a.b", { issuer: process.env.ISSUER, audience: "x" }).catch((e) => e);
console.log(JSON.stringify({
  token: token.accessToken, typed, base: err instanceof M2MError, code: err.code,
  client: auth.clientId, badCode: bad.code, badClass: bad instanceof InvalidTokenError,
}));
`;

const expected = {
  typed: true,
  base: true,
  code: "ERR_OAUTH",
  client: "packed-client",
  badCode: "ERR_JWT_MALFORMED",
  badClass: true,
};

describe("packed package", () => {
  it("an unbuilt clone packs the build; no file nothing loads; maps without embedded sources", async () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain("dist/index.js");
    expect(paths).toContain("dist/cli/bin.js");
    // The bin is ESM only (node loads it); nothing requires a CommonJS CLI.
    expect(paths.filter((p) => p.startsWith("dist/cli/"))).toEqual([
      "dist/cli/bin.js",
      "dist/cli/bin.js.map",
    ]);
    expect(paths.filter((p) => p.startsWith("src/") || p.startsWith("test/"))).toEqual([]);
    const installed = join(consumer(), "node_modules/m2m-kit");
    for (const map of paths.filter((p) => p.endsWith(".map"))) {
      expect(JSON.parse(await readFile(join(installed, map), "utf8")).sourcesContent, map).toBeUndefined();
    }
    const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
    expect(manifest.repository.url).toMatch(/^git\+https:\/\/github\.com\//);
    expect(manifest.homepage).toMatch(/^https:\/\//);
    expect(manifest.bugs.url).toMatch(/^https:\/\//);
  });

  it("imports from ESM and gets a token", async () => {
    server.script(tokenReply({ access_token: "esm-token" }));
    const out = await node(
      "esm.mjs",
      usage(
        `import { ClientCredentialsClient, M2MError, OAuthError, createVerifier, verifyAccessToken, InvalidTokenError } from "m2m-kit";`,
      ),
    );
    expect(JSON.parse(out)).toEqual({ ...expected, token: "esm-token" });
  });

  it("adapter entry points load without their frameworks installed", async () => {
    const out = await node(
      "adapters.mjs",
      `import { withAuth, authenticate } from "m2m-kit/web";
import { requireAuth } from "m2m-kit/express";
import { honoAuth } from "m2m-kit/hono";
import m2mAuth, { m2mAuth as named, HttpAuthError as FromFastify } from "m2m-kit/fastify";
import { HttpAuthError as FromCore } from "m2m-kit";
import { HttpAuthError as FromExpress } from "m2m-kit/express";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const cjs = require("m2m-kit/express");
const sameClass = FromCore === FromExpress && FromCore === FromFastify && require("m2m-kit").HttpAuthError === cjs.HttpAuthError;
let frameworks = [];
for (const name of ["express", "fastify", "hono"]) { try { require.resolve(name); frameworks.push(name); } catch {} }
const res = await authenticate(new Request("http://127.0.0.1/"), { issuer: process.env.ISSUER, audience: "x" });
console.log(JSON.stringify({
  kinds: [typeof withAuth, typeof requireAuth, typeof honoAuth, typeof m2mAuth, m2mAuth === named, typeof cjs.requireAuth],
  frameworks, status: res.status, challenge: res.headers.get("www-authenticate"), sameClass,
  plugin: [m2mAuth[Symbol.for("plugin-meta")], m2mAuth[Symbol.for("skip-override")], m2mAuth[Symbol.for("fastify.display-name")], require("m2m-kit/fastify").m2mAuth[Symbol.for("skip-override")]],
}));`,
    );
    expect(JSON.parse(out)).toEqual({
      kinds: ["function", "function", "function", "function", true, "function"],
      frameworks: [],
      status: 401,
      challenge: "Bearer",
      sameClass: true,
      // fastify-plugin's metadata (carried in the build): not encapsulated, named, Fastify 5.
      plugin: [{ fastify: "5.x", name: "m2m-kit" }, true, "m2m-kit", true],
    });
  });

  it("installs only jose, lru-cache and undici besides itself (fastify-plugin is carried by m2m-kit/fastify)", () => {
    expect(installed.sort()).toEqual(["jose", "lru-cache", "m2m-kit", "undici"]);
  });

  it("the m2m command, the testing helpers and the dev server (without oidc-provider installed)", async () => {
    const help = await run(join(consumer(), "node_modules/.bin/m2m"), ["--help"], { cwd: consumer() });
    expect(help.stdout).toContain("Commands:");
    const out = await node(
      "tools.mjs",
      `import { createTestIssuer } from "m2m-kit/testing";
import { startDevServer } from "m2m-kit/dev-server";
import { createVerifier } from "m2m-kit";
import { existsSync } from "node:fs";
const issuer = await createTestIssuer({ audience: "https://api.example.com" });
const auth = await createVerifier({ issuer: issuer.issuer, audience: "https://api.example.com" }).verify(await issuer.mint({ client_id: "t" }));
await issuer.close();
const dev = await startDevServer({ config: { apis: [{ identifier: "https://a.example.com", scopes: [] }], apps: [{ clientId: "c", clientSecret: "s", grants: {} }] } }).catch((e) => e.message);
console.log(JSON.stringify({ client: auth.clientId, dev, schema: existsSync("node_modules/m2m-kit/m2m.dev.schema.json") }));`,
    );
    expect(JSON.parse(out)).toEqual({
      client: "t",
      dev: "m2m-kit/dev-server needs the oidc-provider package: npm install --save-dev oidc-provider",
      schema: true,
    });
  });

  it("`m2m dev` without oidc-provider installed: exit code 2 and a message naming the package and the install command", async () => {
    // A valid configuration, so the only thing missing is the optional peer.
    await writeFile(
      join(consumer(), "m2m.dev.json"),
      JSON.stringify({
        apis: [{ identifier: "https://api.example.com", scopes: ["read:data"] }],
        apps: [
          {
            clientId: "svc",
            clientSecret: "dev-secret",
            grants: { "https://api.example.com": ["read:data"] },
          },
        ],
      }),
    );
    expect(existsSync(join(consumer(), "node_modules/oidc-provider"))).toBe(false);
    const result = await run(join(consumer(), "node_modules/.bin/m2m"), ["dev", "--config", "m2m.dev.json"], {
      cwd: consumer(),
      timeout: 60_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim()).toBe(
      "m2m dev: ERR_MISSING_PEER_DEPENDENCY: m2m-kit/dev-server needs the oidc-provider package: npm install --save-dev oidc-provider",
    );
  });

  it("m2m-kit/otel: nothing under @opentelemetry/ is loaded unless the entry point is imported", async () => {
    // The API is installed (as in an app that uses OpenTelemetry elsewhere), so only m2m-kit's own
    // imports decide whether it loads. ESM loads are seen by a resolve hook, CommonJS ones in require.cache.
    await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "@opentelemetry/api@^1.9.0"],
      {
        cwd: consumer(),
      },
    );
    await writeFile(
      join(consumer(), "hooks.mjs"),
      `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`,
    );
    await writeFile(
      join(consumer(), "watch.mjs"),
      `import { register } from "node:module";
import { MessageChannel } from "node:worker_threads";
const { port1, port2 } = new MessageChannel();
const loaded = [];
let done;
port1.on("message", (url) => { loaded.push(url); if (url.startsWith("data:")) done(); });
port1.unref();
register("./hooks.mjs", import.meta.url, { data: { port: port2 }, transferList: [port2] });
// Resolves after every earlier load was reported (one port, in order).
globalThis.loadedModules = async () => {
  const settled = new Promise((resolve) => { done = resolve; });
  // Keep the process alive until the hooks' thread has reported (Node 22+ runs hooks off-thread).
  port1.ref();
  await import("data:text/javascript,export default 1");
  await settled;
  port1.unref();
  return loaded.filter((url) => url.includes("@opentelemetry/"));
};`,
    );
    const esm = (entry: string) =>
      `${entry}
const client = new ClientCredentialsClient({ tokenEndpoint: process.env.TOKEN_URL, clientId: "c", clientSecret: "s" });
const verifier = createVerifier({ issuer: process.env.ISSUER, audience: "https://api.example.com" });
if (typeof instrument === "function") { instrument(client); instrument(verifier); }
const token = await client.getToken();
const auth = await verifier.verify(process.env.JWT);
console.log(JSON.stringify({ token: token.accessToken, client: auth.clientId, otel: (await globalThis.loadedModules()).length > 0 }));`;
    const watched = async (file: string, source: string) => {
      await writeFile(join(consumer(), file), source);
      const { stdout } = await run(process.execPath, ["--import", "./watch.mjs", file], {
        cwd: consumer(),
        env: { ...process.env, TOKEN_URL: server.tokenEndpoint, ISSUER: keys.issuer, JWT: jwt },
      });
      return JSON.parse(stdout.trim());
    };
    server.script(tokenReply({ access_token: "plain" }), tokenReply({ access_token: "traced" }));
    expect(
      await watched(
        "no-otel.mjs",
        esm(`import { ClientCredentialsClient, createVerifier } from "m2m-kit";
import "m2m-kit/express"; import "m2m-kit/web"; import "m2m-kit/testing";
const instrument = undefined;`),
      ),
    ).toEqual({ token: "plain", client: "packed-client", otel: false });
    expect(
      await watched(
        "otel.mjs",
        esm(`import { ClientCredentialsClient, createVerifier } from "m2m-kit";
import { instrument } from "m2m-kit/otel";`),
      ),
    ).toEqual({ token: "traced", client: "packed-client", otel: true });
    const cjs = await node(
      "no-otel.cjs",
      `const loaded = () => Object.keys(require.cache).some((path) => path.includes("@opentelemetry"));
const { createVerifier } = require("m2m-kit");
require("m2m-kit/express"); require("m2m-kit/web");
createVerifier({ issuer: process.env.ISSUER, audience: "x" });
const before = loaded();
const { instrument } = require("m2m-kit/otel");
console.log(JSON.stringify({ before, after: loaded(), instrument: typeof instrument }));`,
    );
    expect(JSON.parse(cjs)).toEqual({ before: false, after: true, instrument: "function" });
  });

  it("requires from CommonJS and gets a token", async () => {
    server.script(tokenReply({ access_token: "cjs-token" }));
    const body = usage(
      `const { ClientCredentialsClient, M2MError, OAuthError, createVerifier, verifyAccessToken, InvalidTokenError } = require("m2m-kit");`,
    );
    const out = await node("cjs.cjs", `(async () => {\n${body}\n})();`);
    expect(JSON.parse(out)).toEqual({ ...expected, token: "cjs-token" });
  });

  it.each(JEST_VERSIONS)(
    "Jest %i (CommonJS test file) requires the package, gets a token and verifies one",
    async (major) => {
      const folder = join(work, `jest${major}`);
      await writeFile(
        join(folder, "m2m.test.js"),
        `const { ClientCredentialsClient, createVerifier, InvalidTokenError } = require("m2m-kit");
const { withAuth } = require("m2m-kit/web");
test("token, verification, refusal, adapter", async () => {
  const client = new ClientCredentialsClient({ tokenEndpoint: process.env.TOKEN_URL, clientId: "c", clientSecret: "s" });
  expect((await client.getToken()).accessToken).toBe("jest-token");
  const verifier = createVerifier({ issuer: process.env.ISSUER, audience: "https://api.example.com" });
  expect((await verifier.verify(process.env.JWT)).clientId).toBe("packed-client");
  const bad = await verifier.verify("a.b").catch((e) => e);
  expect(bad).toBeInstanceOf(InvalidTokenError);
  expect(bad.code).toBe("ERR_JWT_MALFORMED");
  const handler = withAuth(async (_request, auth) => new Response(auth.clientId), verifier);
  const ok = await handler(new Request("http://127.0.0.1/", { headers: { authorization: "Bearer " + process.env.JWT } }));
  expect(await ok.text()).toBe("packed-client");
});
`,
      );
      server.script(tokenReply({ access_token: "jest-token" }));
      const { stdout } = await run(
        process.execPath,
        [join(folder, "node_modules/jest/bin/jest.js"), "--ci", "--json", "--rootDir", folder],
        {
          cwd: folder,
          env: { ...process.env, TOKEN_URL: server.tokenEndpoint, ISSUER: keys.issuer, JWT: jwt },
        },
      ).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`jest ${major} failed:\n${error.stderr ?? ""}\n${error.stdout ?? ""}`);
      });
      const report = JSON.parse(stdout) as { numPassedTests: number; numFailedTests: number };
      const jestVersion = JSON.parse(
        await readFile(join(folder, "node_modules/jest/package.json"), "utf8"),
      ).version;
      expect(jestVersion.split(".")[0]).toBe(String(major));
      expect([report.numPassedTests, report.numFailedTests]).toEqual([1, 0]);
    },
  );

  it("m2m-kit/node loads from ESM and CommonJS and its fetch gets a token", async () => {
    server.script(
      tokenReply({ access_token: "node-esm-token" }),
      tokenReply({ access_token: "node-cjs-token" }),
    );
    const out = await node(
      "transport.mjs",
      `import { createNodeFetch } from "m2m-kit/node";
import { ClientCredentialsClient } from "m2m-kit";
import { createRequire } from "node:module";
const cjs = createRequire(import.meta.url)("m2m-kit/node");
const tokens = [];
for (const make of [createNodeFetch, cjs.createNodeFetch]) {
  const fetch = make({ proxy: false });
  const client = new ClientCredentialsClient({ tokenEndpoint: process.env.TOKEN_URL, clientId: "c", clientSecret: "s", fetch });
  tokens.push((await client.getToken()).accessToken);
  await fetch.close();
}
console.log(JSON.stringify({ tokens, cert: createNodeFetch().presentsClientCertificate }));`,
    );
    expect(JSON.parse(out)).toEqual({ tokens: ["node-esm-token", "node-cjs-token"], cert: false });
  });

  it("type-checks in a TypeScript nodenext project (ESM and CJS files)", async () => {
    const source = `import { ClientCredentialsClient, type AccessToken, OAuthError } from "m2m-kit";
const client = new ClientCredentialsClient({ issuer: "https://tenant.example.com/", clientId: "id", clientSecret: "s" });
export async function get(): Promise<AccessToken> {
  const token = await client.getToken({ audience: "https://api.example.com", scope: ["read:data"] });
  const expiresAt: number = token.expiresAt;
  void expiresAt;
  return token;
}
export const isOAuth = (e: unknown): boolean => e instanceof OAuthError && e.error === "invalid_client";
// @ts-expect-error unknown option
new ClientCredentialsClient({ issuer: "https://x/", clientId: "id", clientSecret: "s", nope: 1 });
`;
    await writeFile(join(consumer(), "esm.mts"), source);
    await writeFile(join(consumer(), "cjs.cts"), source);
    await writeFile(
      join(consumer(), "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          lib: ["es2022", "dom"],
          types: [],
        },
        files: ["esm.mts", "cjs.cts"],
      }),
    );
    await run(bin("tsc"), ["-p", "tsconfig.json"], { cwd: consumer() });
  });

  it("every entry point's .d.cts compiles in a CommonJS TypeScript project without skipLibCheck, beside the MCP SDK; typed handlers under strict", async () => {
    // A project with the frameworks' types (from this repository's node_modules) and the package as
    // packed: the declarations themselves are checked (skipLibCheck off), from .cts and .mts files.
    const project = join(work, "typed");
    await run("mkdir", ["-p", join(project, "node_modules/@types")]);
    await run("tar", ["xzf", tarball, "-C", join(project, "node_modules")]);
    await run("mv", [join(project, "node_modules/package"), join(project, "node_modules/m2m-kit")]);
    const shared = [
      "jose",
      "undici",
      "express",
      "fastify",
      "hono",
      "@opentelemetry",
      "@modelcontextprotocol",
      "zod",
    ];
    for (const name of [...shared, "@types/node", "@types/express"]) {
      await symlink(join(root, "node_modules", name), join(project, "node_modules", name), "dir");
    }
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "typed", private: true, type: "commonjs" }),
    );
    const source = `import { createVerifier, type AuthResult, type VerifierEvent } from "m2m-kit";
import express = require("express");
import { authenticated, requireAuth, requireScopes, type AuthenticatedRequest } from "m2m-kit/express";
import { m2mAuth } from "m2m-kit/fastify";
import { honoAuth, requireAnyScope, type HonoAuthEnv } from "m2m-kit/hono";
import { Hono } from "hono";
import { withAuth } from "m2m-kit/web";
import { createTestIssuer } from "m2m-kit/testing";
import { createNodeFetch } from "m2m-kit/node";
import { createRedisTokenStore } from "m2m-kit/redis";
import { instrument } from "m2m-kit/otel";
import { startDevServer } from "m2m-kit/dev-server";
void [m2mAuth, withAuth, createTestIssuer, createNodeFetch, createRedisTokenStore, instrument, startDevServer];

type Claims = { tenant: string };
const verifier = createVerifier({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" });
const app = express();
app.get("/orders", requireAuth(verifier), requireScopes("read"), authenticated<Claims>((req, res) => {
  const tenant: string = req.auth.claims.tenant;
  res.json({ tenant });
}));
// @ts-expect-error under strict, Express takes handlers of a plain Request: wrap them in authenticated()
app.get("/plain", (req: AuthenticatedRequest<Claims>, res: express.Response) => res.json(req.auth.clientId));

const hono = new Hono()
  .get("/data", honoAuth<Claims>(verifier), requireAnyScope("read", "admin"), (c) => c.json({ tenant: c.get("auth").claims.tenant }))
  .get("/optional", honoAuth(verifier, { optional: true }), (c) => {
    const auth: AuthResult | undefined = c.get("auth");
    // @ts-expect-error with optional: true the token may be absent
    const unchecked = () => c.get("auth").clientId;
    return c.json({ client: auth?.clientId ?? null, unchecked: typeof unchecked });
  });
const typed = new Hono<HonoAuthEnv>();
typed.get("/", (c) => c.json({ client: c.get("auth").clientId }));
export const log = (event: VerifierEvent): string => event.type === "verification_failed" ? event.issuer ?? "-" : event.type;
export { app, hono, typed };
`;
    // An MCP server beside them: the SDK declares Express's req.auth as its AuthInfo, m2m-kit/express
    // as an AuthResult; both together must compile, with the SDK's gate and with m2m-kit's.
    const mcp = `import express = require("express");
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsClient } from "m2m-kit";
import { authenticated, requireAuth } from "m2m-kit/express";
import { mcpClientAuth, mcpRequireAuth, mcpTokenVerifier } from "m2m-kit/mcp";

const resource = "https://mcp.example.com/mcp";
const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
const server = express();
server.post("/mcp", requireBearerAuth({ verifier: mcpTokenVerifier({ issuer: "https://tenant.example.com/", audience: resource }, { resource }) }), (req, res) => {
  const seconds: number | undefined = req.auth?.expiresAt;
  void seconds;
  void transport.handleRequest(req, res, req.body);
});
server.post("/v2/mcp", mcpRequireAuth({ issuer: "https://tenant.example.com/", audience: resource, resource }), (req, res) => {
  void transport.handleRequest(req, res, req.body);
});
server.get("/orders", requireAuth({ issuer: "https://tenant.example.com/", audience: "https://api.example.com" }), authenticated<{ tenant: string }>((req, res) => {
  res.json({ tenant: req.auth.claims.tenant });
}));
const client = new ClientCredentialsClient({ issuer: "https://tenant.example.com/", clientId: "id", clientSecret: "s" });
export const agent = new StreamableHTTPClientTransport(new URL(resource), mcpClientAuth(client, { resource }));
export { server };
`;
    await writeFile(join(project, "consumer.cts"), source);
    await writeFile(
      join(project, "consumer.mts"),
      source.replace('import express = require("express");', 'import express from "express";'),
    );
    await writeFile(join(project, "mcp.cts"), mcp);
    await writeFile(
      join(project, "mcp.mts"),
      mcp.replace('import express = require("express");', 'import express from "express";'),
    );
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          esModuleInterop: true,
          lib: ["es2022", "dom"],
          types: ["node"],
        },
        files: ["consumer.cts", "consumer.mts", "mcp.cts", "mcp.mts"],
      }),
    );
    const result = await run(bin("tsc"), ["-p", "tsconfig.json", "--listFiles"], { cwd: project }).catch(
      (error: { stdout: string }) => error,
    );
    const listed = result.stdout.split("\n");
    // No error (TS1479 was a CommonJS declaration importing an ESM one); every entry point's .d.cts was checked.
    expect(listed.filter((line) => line.includes("error TS"))).toEqual([]);
    for (const entry of [
      "index",
      "express",
      "fastify",
      "hono",
      "web",
      "node",
      "redis",
      "otel",
      "testing",
      "mcp",
    ]) {
      expect(
        listed.some((line) => line.endsWith(`m2m-kit/dist/${entry}.d.cts`)),
        entry,
      ).toBe(true);
    }
  }, 120_000);

  it("publint finds no problem", async () => {
    const { stdout } = await run(bin("publint"), ["--strict", tarball], { cwd: root });
    expect(stdout).toMatch(/All good!/);
  });

  it("are-the-types-wrong finds no problem", async () => {
    const { stdout } = await run(bin("attw"), [tarball, "--format", "ascii"], { cwd: root });
    expect(stdout).toMatch(/No problems found/);
  });
});
