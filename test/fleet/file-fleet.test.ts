/**
 * FileTokenStore (m2m-kit/node): one host, many processes or runs, one token. Real CLI runs and real
 * Node processes against oidc-provider.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type StoredToken } from "../../src/index.js";
import { FileTokenStore } from "../../src/node/index.js";
import { ensureBuilt, startWorkers, stopAllWorkers } from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const BIN = join(root, "dist/cli/bin.js");
const API = "https://api.example.com";
const CACHE_KEY = "file-store-test-key-0123456789abcdefghij";

let provider: RunningProvider;
let dir: string;

beforeAll(async () => {
  [provider, dir] = await Promise.all([
    startProvider(),
    mkdtemp(join(tmpdir(), "m2m-file-store-")),
    ensureBuilt(),
  ]);
});

afterEach(async () => {
  await stopAllWorkers();
});

afterAll(async () => {
  await provider?.close();
  await rm(dir, { recursive: true, force: true });
});

function token(accessToken: string, lifetimeMs: number, obtainedAt = Date.now()): StoredToken {
  return {
    accessToken,
    tokenType: "Bearer",
    expiresAt: obtainedAt + lifetimeMs,
    refreshAt: obtainedAt + lifetimeMs / 2,
    obtainedAt,
    scope: [],
    audience: API,
  };
}

describe("m2m token --cache", () => {
  it("20 sequential runs → 1 token request; the file is 0600 and encrypted", async () => {
    provider.resetCount();
    const cache = join(dir, "cli-cache");
    const args = [
      BIN,
      "token",
      "--token-endpoint",
      provider.tokenEndpoint,
      "--client-id",
      "basic-client",
      "--client-secret-env",
      "M2M_SECRET",
      "--audience",
      API,
      "--scope",
      "read:data",
      "--cache",
      cache,
    ];
    const env = { ...process.env, M2M_SECRET: ODD_SECRET, M2M_CACHE_KEY: CACHE_KEY };
    const outputs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { stdout } = await run(process.execPath, args, { env });
      outputs.push(stdout.trim());
    }
    expect(provider.tokenRequests).toBe(1);
    expect(new Set(outputs).size).toBe(1);
    expect(outputs[0]).toMatch(/^eyJ/);
    const file = join(cache, "m2m-tokens.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(cache)).mode & 0o777).toBe(0o700);
    const content = await readFile(file, "utf8");
    for (const secret of [outputs[0], "basic-client", "api.example.com", "read:data"]) {
      expect(content).not.toContain(secret);
    }
  }, 120_000);
});

describe("FileTokenStore across processes", () => {
  it("8 concurrent processes on one host → 1 token request", async () => {
    provider.resetCount();
    const path = join(dir, "concurrent", "tokens.json");
    const workers = await startWorkers(8, {
      store: { kind: "file", path },
      tokenEndpoint: provider.tokenEndpoint,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      targets: [{ audience: API, scope: "read:data" }],
      encryptionKey: CACHE_KEY,
      mode: { kind: "burst", calls: 100, concurrency: 10 },
    });
    for (const w of workers) w.go();
    const reports = await Promise.all(workers.map((w) => w.report));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(reports.reduce((n, r) => n + r.calls, 0)).toBe(800);
    expect(provider.tokenRequests).toBe(1);
    expect(new Set(reports.flatMap((r) => r.tokens)).size).toBe(1);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  }, 120_000);
});

describe("FileTokenStore", () => {
  it("orders writes by when the token was obtained, not by expiry; deletes only the token it was given", async () => {
    const path = join(dir, "order.json");
    const now = Date.now();
    await new FileTokenStore({ path }).set("k", token("newer", 60_000, now));
    // Obtained earlier, expiring later: refused.
    await new FileTokenStore({ path }).set("k", token("older", 600_000, now - 5_000));
    expect((await new FileTokenStore({ path }).get("k"))?.accessToken).toBe("newer");
    await new FileTokenStore({ path }).set("k", token("newest", 30_000, now + 1));
    expect((await new FileTokenStore({ path }).get("k"))?.accessToken).toBe("newest");
    await new FileTokenStore({ path }).delete("k", { accessToken: "newer" });
    expect((await new FileTokenStore({ path }).get("k"))?.accessToken).toBe("newest");
    await new FileTokenStore({ path }).delete("k", { accessToken: "newest" });
    expect(await new FileTokenStore({ path }).get("k")).toBeUndefined();
  });

  it("one lease holder; release frees only its own lease", async () => {
    const path = join(dir, "lease.json");
    const a = new FileTokenStore({ path });
    const b = new FileTokenStore({ path });
    const releaseA = await a.lease?.acquire("k", 10_000);
    expect(releaseA).toBeTypeOf("function");
    expect(await b.lease?.acquire("k", 10_000)).toBeUndefined();
    await releaseA?.();
    const releaseB = await b.lease?.acquire("k", 10_000);
    expect(releaseB).toBeTypeOf("function");
    await releaseA?.();
    expect(await a.lease?.acquire("k", 10_000)).toBeUndefined();
    await releaseB?.();
  });

  it("takes over a lock file left by a dead process or too old", async () => {
    const path = join(dir, "stale.json");
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    await writeFile(`${path}.lock`, `${dead}\n`);
    await new FileTokenStore({ path }).set("k", token("after-dead", 60_000));
    expect((await new FileTokenStore({ path }).get("k"))?.accessToken).toBe("after-dead");
    // A lock of a live process (this one) that is older than staleLockMs.
    await writeFile(`${path}.lock`, `${process.pid}\n`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    await new FileTokenStore({ path, staleLockMs: 1_000 }).set("k", token("after-old", 120_000));
    expect((await new FileTokenStore({ path }).get("k"))?.accessToken).toBe("after-old");
  });

  it("a file it cannot write never fails getToken: the client fetches on its own", async () => {
    provider.resetCount();
    const blocker = join(dir, "not-a-directory");
    await writeFile(blocker, "");
    const client = new ClientCredentialsClient({
      tokenEndpoint: provider.tokenEndpoint,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      store: new FileTokenStore({ path: join(blocker, "tokens.json") }),
    });
    const first = await client.getToken({ audience: API });
    expect((await client.getToken({ audience: API })).accessToken).toBe(first.accessToken);
    expect(provider.tokenRequests).toBe(1);
    await client.close();
  });

  it("a bad option is a TypeError naming it", () => {
    expect(() => new FileTokenStore({ path: "" })).toThrow(/path/);
    expect(() => new FileTokenStore({ encryptionKey: "short" })).toThrow(/encryptionKey/);
    expect(() => new FileTokenStore({ lease: { waitTimeoutMs: -1 } })).toThrow(/lease.waitTimeoutMs/);
    expect(() => new FileTokenStore({ staleLockMs: 0 })).toThrow(/staleLockMs/);
  });
});
