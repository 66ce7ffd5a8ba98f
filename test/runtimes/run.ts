/**
 * The runtime suite: the packed package on each runtime of the CI matrix, over real sockets.
 *
 *   node --import tsx test/runtimes/run.ts --runtime node=/path/to/node --runtime bun=/path/to/bun \
 *     --runtime deno=/path/to/deno --runtime workerd=/path/to/folder/with/miniflare
 *
 * It packs this repository (`npm pack`), installs the tarball in a fresh project, then for each runtime
 * starts the suite's application (app.mjs: one client and two verifiers shared by all requests) and
 * sends it the same requests: tokens of three algorithms via discovery and via `jwksUri`, forged and
 * wrong-audience tokens, `withAuth` answers, `getToken` in sequence and in parallel, a token refresh,
 * a key rotation, and a JWKS refresh left open by a finished request. workerd runs the application as
 * a real Worker through Miniflare (Node 22 or newer runs this file then), once with the client and
 * verifiers at module scope, and once made in the first request and with no `waitUntil`; then a
 * verifier with `cacheApiStore` in one Worker process, and the same Worker in a second process on
 * the same (persisted) cache, whose first token must cost no discovery and no JWKS request.
 * One line per runtime; exit code 1 when any check fails.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { AUDIENCE, CLIENT_ID, CLIENT_SECRET, type RuntimeIssuer, startRuntimeIssuer } from "./issuer.js";

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const CHECK_TIMEOUT_MS = 10_000;

interface App {
  url: string;
  stop(): Promise<void>;
  /** Stops the application and starts it again in a new process (workerd: on the same cache). */
  restart?(): Promise<void>;
}

interface Runtime {
  label: string;
  start(config: Record<string, unknown>): Promise<App>;
  /** The checks of this runtime, when not the common ones. */
  checks?: Check[];
}

interface Context {
  issuer: RuntimeIssuer;
  call(path: string, init?: RequestInit): Promise<Response>;
  restart(): Promise<void>;
}

type Check = [name: string, run: (ctx: Context) => Promise<void>];

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function json(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { status: response.status, text };
  }
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

async function verify(ctx: Context, token: string, via: "discovery" | "jwks" | "store" = "discovery") {
  const response = await ctx.call(`/verify?via=${via}`, { method: "POST", ...bearer(token) });
  return { status: response.status, body: await json(response) };
}

async function advance(ctx: Context, clocks: { client?: number; verifier?: number }) {
  const response = await ctx.call(`/clock?client=${clocks.client ?? 0}&verifier=${clocks.verifier ?? 0}`, {
    method: "POST",
  });
  assert(response.status === 204, `clock: HTTP ${response.status}`);
}

async function getToken(ctx: Context): Promise<string> {
  const body = await json(await ctx.call("/token"));
  assert(typeof body.accessToken === "string", `getToken: ${JSON.stringify(body)}`);
  return body.accessToken as string;
}

const checks: Check[] = [
  [
    "verify RS256, ES256 and EdDSA tokens via discovery and via jwksUri",
    async (ctx) => {
      for (const via of ["discovery", "jwks"] as const) {
        const results = await Promise.all(
          ctx.issuer.keys.map(async (key) =>
            verify(ctx, await ctx.issuer.sign(key, { scope: "read:data" }), via),
          ),
        );
        const algs = results.map((r) => `${r.status} ${r.body.alg} ${r.body.clientId}`);
        assert(
          algs.join() === `200 RS256 ${CLIENT_ID},200 ES256 ${CLIENT_ID},200 EdDSA ${CLIENT_ID}`,
          `${via}: ${JSON.stringify(results)}`,
        );
      }
    },
  ],
  [
    "forged and wrong-audience tokens refused with their codes",
    async (ctx) => {
      const forged = await verify(ctx, await ctx.issuer.forge(ctx.issuer.keys[0]!.kid));
      assert(forged.body.code === "ERR_JWT_SIGNATURE", `forged: ${JSON.stringify(forged)}`);
      const wrongAudience = await verify(
        ctx,
        await ctx.issuer.sign(ctx.issuer.keys[1]!, { aud: "https://other.example.com" }),
      );
      assert(wrongAudience.body.code === "ERR_JWT_AUDIENCE", `audience: ${JSON.stringify(wrongAudience)}`);
    },
  ],
  [
    "withAuth answers 200, 401 and 403 (RFC 6750)",
    async (ctx) => {
      const [key] = ctx.issuer.keys;
      const ok = await ctx.call("/api", bearer(await ctx.issuer.sign(key!, { scope: "read:data" })));
      assert(ok.status === 200 && (await json(ok)).client === CLIENT_ID, `200: ${ok.status}`);
      const none = await ctx.call("/api");
      assert(
        none.status === 401 && none.headers.get("www-authenticate") === 'Bearer realm="runtime-suite"',
        `no token: ${none.status} ${none.headers.get("www-authenticate")}`,
      );
      const forged = await ctx.call("/api", bearer(await ctx.issuer.forge(key!.kid)));
      assert(
        forged.status === 401 && /error="invalid_token"/.test(forged.headers.get("www-authenticate") ?? ""),
        `forged: ${forged.status} ${forged.headers.get("www-authenticate")}`,
      );
      const scope = await ctx.call("/api", bearer(await ctx.issuer.sign(key!, { scope: "write:data" })));
      assert(
        scope.status === 403 &&
          /error="insufficient_scope"/.test(scope.headers.get("www-authenticate") ?? ""),
        `scope: ${scope.status} ${scope.headers.get("www-authenticate")}`,
      );
    },
  ],
  [
    "withAuth on 8 requests in parallel",
    async (ctx) => {
      const tokens = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          ctx.issuer.sign(ctx.issuer.keys[i % 3]!, { scope: "read:data", jti: `p${i}` }),
        ),
      );
      const statuses = await Promise.all(tokens.map(async (t) => (await ctx.call("/api", bearer(t))).status));
      assert(
        statuses.every((s) => s === 200),
        `statuses: ${statuses}`,
      );
    },
  ],
  [
    "getToken: one token request for 3 requests in sequence and 5 in parallel",
    async (ctx) => {
      const first = await getToken(ctx);
      for (let i = 0; i < 2; i++) assert((await getToken(ctx)) === first, "sequence: another token");
      const parallel = await Promise.all(Array.from({ length: 5 }, () => getToken(ctx)));
      assert(
        parallel.every((t) => t === first),
        "parallel: another token",
      );
      assert(ctx.issuer.tokenRequests === 1, `token requests: ${ctx.issuer.tokenRequests}`);
      const checked = await verify(ctx, first);
      assert(checked.status === 200, `the issued token: ${JSON.stringify(checked.body)}`);
    },
  ],
  [
    "getToken: a new token once the cached one expires",
    async (ctx) => {
      const before = await getToken(ctx);
      const requests = ctx.issuer.tokenRequests;
      await advance(ctx, { client: 3_600_000 });
      const after = await getToken(ctx);
      assert(after !== before, "the expired token was served");
      assert(
        ctx.issuer.tokenRequests === requests + 1,
        `token requests: ${ctx.issuer.tokenRequests - requests}`,
      );
      assert((await getToken(ctx)) === after, "the new token is not cached");
    },
  ],
  [
    "getToken inside the refresh window: one refresh, then the new token",
    async (ctx) => {
      const before = await getToken(ctx);
      const requests = ctx.issuer.tokenRequests;
      // 3 500 s into a 3 600 s token: inside its refresh window (10% of the lifetime, with jitter).
      await advance(ctx, { client: 3_500_000 });
      let after = before;
      for (let i = 0; i < 100 && after === before; i++) after = await getToken(ctx);
      assert(after !== before, "no refresh inside the window");
      assert(
        ctx.issuer.tokenRequests === requests + 1,
        `token requests: ${ctx.issuer.tokenRequests - requests}`,
      );
    },
  ],
  [
    "key rotation: a token with a new kid after the cooldown; a removed key refused",
    async (ctx) => {
      const old = ctx.issuer.keys[0]!;
      const added = await ctx.issuer.addKey("ES256");
      ctx.issuer.removeKey(old.kid);
      await advance(ctx, { verifier: 31_000 });
      const fresh = await verify(ctx, await ctx.issuer.sign(added, { scope: "read:data" }));
      assert(fresh.status === 200, `new kid: ${JSON.stringify(fresh.body)}`);
      const removed = await verify(ctx, await ctx.issuer.sign(old, { jti: "removed" }));
      assert(
        removed.body.code === "ERR_JWKS_NO_MATCHING_KEY",
        `removed kid: ${JSON.stringify(removed.body)}`,
      );
    },
  ],
  [
    "a JWKS refresh left open by a finished request does not hold a later unknown kid",
    async (ctx) => {
      // The keys pass their max age: the next verification answers from them and refreshes them
      // in the background. That request ends while the JWKS answer is held back.
      await advance(ctx, { verifier: 601_000 });
      ctx.issuer.hold = true;
      const known = await verify(ctx, await ctx.issuer.sign(ctx.issuer.keys[0]!, { jti: "stale" }));
      ctx.issuer.release();
      assert(known.status === 200, `stale keys: ${JSON.stringify(known.body)}`);
      // Then a rotation: a token with a kid the cached set does not have.
      const fetches = ctx.issuer.jwksFetches;
      const added = await ctx.issuer.addKey("EdDSA");
      await advance(ctx, { verifier: 31_000 });
      const rotated = await verify(ctx, await ctx.issuer.sign(added, { jti: "after" }));
      assert(rotated.status === 200, `new kid: ${JSON.stringify(rotated.body)}`);
      assert(ctx.issuer.jwksFetches > fetches, "no JWKS request for the new kid");
    },
  ],
];

/** The Cache API store: key sets and discovery documents outlive the Worker process that fetched them. */
const storeChecks: Check[] = [
  [
    "a new Worker process verifies its first token with no discovery and no JWKS request (cacheApiStore)",
    async (ctx) => {
      const first = await verify(ctx, await ctx.issuer.sign(ctx.issuer.keys[0]!, { jti: "first" }), "store");
      assert(first.status === 200, `first process: ${JSON.stringify(first.body)}`);
      const counts = () => `discovery ${ctx.issuer.discoveryRequests}, JWKS ${ctx.issuer.jwksFetches}`;
      assert(counts() === "discovery 1, JWKS 1", `first process: ${counts()}`);
      // The entries are written through ctx.waitUntil, after the response.
      let writes = 0;
      for (let i = 0; i < 100 && writes < 2; i++) {
        writes = Number((await json(await ctx.call("/store-writes"))).writes);
        if (writes < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert(writes === 2, `entries written by the first process: ${writes}`);
      await ctx.restart();
      const second = await verify(
        ctx,
        await ctx.issuer.sign(ctx.issuer.keys[1]!, { jti: "second" }),
        "store",
      );
      assert(second.status === 200, `second process: ${JSON.stringify(second.body)}`);
      assert(counts() === "discovery 1, JWKS 1", `second process: ${counts()}`);
      const writesThere = Number((await json(await ctx.call("/store-writes"))).writes);
      assert(writesThere === 0, `the second process wrote ${writesThere} entries`);
    },
  ],
];

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runChecks(runtime: Runtime, issuer: RuntimeIssuer): Promise<string[]> {
  const config = {
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: AUDIENCE,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
  };
  let app: App;
  try {
    app = await runtime.start(config);
  } catch (error) {
    const reason = (error as Error).message.split("\n").slice(0, 4).join("\n    ");
    return [
      `the application did not start (all ${(runtime.checks ?? checks).length} checks fail): ${reason}`,
    ];
  }
  const failures: string[] = [];
  const ctx: Context = {
    issuer,
    call: (path, init) => fetch(`${app.url}${path}`, init),
    restart: async () => {
      if (!app.restart) throw new Error("this runtime cannot restart the application");
      await app.restart();
    },
  };
  try {
    for (const [name, run] of runtime.checks ?? checks) {
      try {
        await withTimeout(run(ctx), CHECK_TIMEOUT_MS);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
        issuer.release();
      }
    }
  } finally {
    await app.stop();
  }
  return failures;
}

/** A process that prints `listening <url>` (host.mjs). Stopped by its PID. */
async function startProcess(command: string, args: string[], cwd: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await withTimeout(
    new Promise<string>((resolveUrl, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening (\S+)/.exec(output);
        if (match) resolveUrl(match[1]!);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${output.slice(-2000)}`)));
      child.once("error", reject);
    }),
    30_000,
  ).catch((error) => {
    if (child.pid) process.kill(child.pid);
    throw error;
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.pid) {
        const exited = new Promise((r) => child.once("exit", r));
        process.kill(child.pid);
        await exited;
      }
    },
  };
}

async function version(command: string, args: string[]): Promise<string> {
  const { stdout } = await exec(command, args);
  return stdout.trim().split("\n")[0]!;
}

async function processRuntime(name: string, command: string, project: string): Promise<Runtime> {
  if (name === "deno") {
    const v = (await version(command, ["--version"])).replace(/^deno (\S+).*/, "$1");
    return {
      label: `Deno ${v}`,
      start: (config) =>
        startProcess(command, ["run", "--allow-net", "--allow-env", "--allow-read", "host.mjs"], project, {
          M2M_APP: JSON.stringify(config),
          DENO_NO_UPDATE_CHECK: "1",
          DENO_DIR: join(project, ".deno"),
        }),
    };
  }
  const v = (await version(command, ["--version"])).replace(/^v/, "");
  return {
    label: `${name === "bun" ? "Bun" : "Node"} ${v}`,
    start: (config) => startProcess(command, ["host.mjs"], project, { M2M_APP: JSON.stringify(config) }),
  };
}

async function workerdRuntimes(miniflareFolder: string, project: string): Promise<Runtime[]> {
  const require = createRequire(join(miniflareFolder, "package.json"));
  const { Miniflare } = await import(pathToFileURL(require.resolve("miniflare")).href);
  const workerdVersion = (require("workerd/package.json") as { version: string }).version;
  const esbuild = await import("esbuild");
  const start = async (config: Record<string, unknown>, cachePersist?: string): Promise<App> => {
    const bundle = await esbuild.build({
      entryPoints: [join(project, "worker.mjs")],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      // What wrangler resolves with: no `node` condition, so the package's web platform file.
      conditions: ["workerd", "worker", "browser"],
      define: { M2M_APP: JSON.stringify(config) },
      logLevel: "silent",
    });
    const source = bundle.outputFiles[0]!.text;
    if (/from\s*"node:|import\("node:|require\("node:/.test(source))
      throw new Error("a node: import in the Worker");
    const mf = new Miniflare({
      modules: true,
      script: source,
      compatibilityDate: "2025-09-01",
      host: "127.0.0.1",
      port: 0,
      ...(cachePersist && { cachePersist }),
    });
    const url: URL = await mf.ready;
    return { url: url.origin, stop: () => mf.dispose() };
  };
  return [
    { label: `workerd ${workerdVersion} (module-scope client and verifiers)`, start },
    {
      label: `workerd ${workerdVersion} (client and verifiers made in the first request, no waitUntil)`,
      start: (config) => start({ ...config, lazy: true, waitUntil: false }),
    },
    {
      label: `workerd ${workerdVersion} (cacheApiStore: two Worker processes on one persisted cache)`,
      checks: storeChecks,
      start: async (config) => {
        const cacheDir = await mkdtemp(join(tmpdir(), "m2m-kit-cache-"));
        const withStore = { ...config, store: "cache-api" };
        let current = await start(withStore, cacheDir);
        const app: App = {
          url: current.url,
          async restart() {
            await current.stop();
            current = await start(withStore, cacheDir);
            app.url = current.url;
          },
          async stop() {
            await current.stop();
            await rm(cacheDir, { recursive: true, force: true });
          },
        };
        return app;
      },
    },
  ];
}

async function pack(): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), "m2m-kit-runtimes-"));
  const { stdout } = await exec("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
    cwd: root,
  });
  const tarball = join(work, JSON.parse(stdout)[0].filename);
  await writeFile(
    join(work, "package.json"),
    JSON.stringify({ name: "runtime-suite", private: true, type: "module", version: "1.0.0" }),
  );
  await exec("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: work });
  for (const file of ["app.mjs", "host.mjs", "worker.mjs"]) {
    await copyFile(join(import.meta.dirname, file), join(work, file));
  }
  return work;
}

async function main() {
  const requested: [string, string][] = [];
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--runtime") throw new TypeError(`unknown argument ${args[i]}`);
    const [name, path] = (args[++i] ?? "").split(/=(.*)/s);
    if (!name || !path) throw new TypeError("--runtime takes name=path");
    requested.push([name, path]);
  }
  if (requested.length === 0) requested.push(["node", process.execPath]);

  const started = Date.now();
  const project = await pack();
  let failed = 0;
  try {
    for (const [name, path] of requested) {
      const runtimes =
        name === "workerd"
          ? await workerdRuntimes(path, project)
          : [await processRuntime(name, path, project)];
      for (const runtime of runtimes) {
        const began = Date.now();
        const issuer = await startRuntimeIssuer();
        const failures = await runChecks(runtime, issuer).finally(() => issuer.close());
        const seconds = ((Date.now() - began) / 1000).toFixed(1);
        const count = (runtime.checks ?? checks).length;
        const passed = failures[0]?.startsWith("the application did not start") ? 0 : count - failures.length;
        console.log(`runtime suite on ${runtime.label}: ${passed} of ${count} checks passed (${seconds} s)`);
        for (const failure of failures) console.log(`  ✗ ${failure}`);
        if (failures.length) failed++;
      }
    }
  } finally {
    await rm(project, { recursive: true, force: true });
  }
  console.log(`runtime suite: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  // Miniflare and esbuild keep handles open; everything this file started is stopped by now.
  process.exit(failed ? 1 : 0);
}

await main();
