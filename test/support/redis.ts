/**
 * Real `redis-server` processes on 127.0.0.1 for the fleet tests: one server on a free port, or a
 * local 3-master Redis Cluster. The Debian package is installed when the machine has no
 * `redis-server` (a fresh CI machine has only Node and npm). Every server is stopped by its PID.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const SEARCH = ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin", ...(process.env.PATH ?? "").split(":")];

function findBinary(name: string): string | undefined {
  for (const dir of SEARCH) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

let installing: Promise<void> | undefined;

/** `redis-server` and `redis-cli` paths; installs the Debian package `redis-server` when missing. */
export async function ensureRedis(): Promise<{ server: string; cli: string }> {
  if (!findBinary("redis-server") || !findBinary("redis-cli")) {
    installing ??= (async () => {
      // Other test files may install at the same time: apt waits for the dpkg lock.
      const lock = ["-o", "DPkg::Lock::Timeout=300"];
      await run("apt-get", [...lock, "update"], { timeout: 300_000 });
      await run("apt-get", [...lock, "install", "-y", "--no-install-recommends", "redis-server"], {
        timeout: 300_000,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    })();
    await installing;
  }
  const server = findBinary("redis-server");
  const cli = findBinary("redis-cli");
  if (!server || !cli) throw new Error("redis-server is not installed and could not be installed");
  return { server, cli };
}

/** A free TCP port on 127.0.0.1 (and `port + 10000` free too, for a cluster bus). */
export async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = withBus ? 20000 + Math.floor(Math.random() * 25000) : await listenZero();
    if (!withBus) return port;
    if ((await isFree(port)) && (await isFree(port + 10000))) return port;
  }
  throw new Error("no free port");
}

function listenZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM to its PID, SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): Promise<string>;
}

function spawnRedis(server: string, args: string[], cwd: string): Promise<ChildProcess> {
  const child = spawn(server, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start:\n${output}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    });
  });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      resolve();
      return;
    }
    const kill = setTimeout(() => process.kill(child.pid as number, "SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    process.kill(child.pid, "SIGTERM");
  });
}

/** Starts one `redis-server` on a free port of 127.0.0.1, without persistence. */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const { server, cli } = await ensureRedis();
  const dir = mkdtempSync(join(tmpdir(), "m2m-redis-"));
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    ...extraArgs,
  ];
  let child: ChildProcess | undefined = await spawnRedis(server, args, dir);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await stopChild(child);
      child = undefined;
    },
    async start() {
      if (child) return;
      child = await spawnRedis(server, args, dir);
    },
    async cli(...cliArgs: string[]) {
      const { stdout } = await run(cli, ["-h", "127.0.0.1", "-p", String(port), ...cliArgs]);
      return stdout;
    },
  };
}

export interface RedisCluster {
  /** Seed nodes, `{ host, port }`. */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
  /** redis-cli against every master; outputs in node order. */
  cliAll(...args: string[]): Promise<string[]>;
}

/** A local Redis Cluster of 3 masters (no replicas) on free ports of 127.0.0.1. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const { server, cli } = await ensureRedis();
  const dir = mkdtempSync(join(tmpdir(), "m2m-redis-cluster-"));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(true);
      ports.push(port);
      const args = [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "2000",
      ];
      children.push(await spawnRedis(server, args, dir));
    }
    await run(cli, [
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    // Every node must agree before clients connect.
    for (let i = 0; i < 200; i++) {
      const states = await Promise.all(
        ports.map(async (p) => (await run(cli, ["-p", String(p), "cluster", "info"])).stdout),
      );
      if (states.every((s) => s.includes("cluster_state:ok"))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    stop,
    cliAll: (...args) =>
      Promise.all(
        ports.map(async (p) => (await run(cli, ["-h", "127.0.0.1", "-p", String(p), ...args])).stdout),
      ),
  };
}
