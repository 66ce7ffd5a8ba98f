/**
 * Fleets of real Node processes (test/fleet/worker.mjs) on the built package, each with its own
 * ClientCredentialsClient on a shared store. Every process is stopped by its PID.
 */
import { type ChildProcess, execFile, fork } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const root = resolve(import.meta.dirname, "../..");
const WORKER = join(root, "test/fleet/worker.mjs");

export type StoreConfig =
  /** `node-redis` is node-redis 5, `node-redis-6` node-redis 6. */
  | { kind: "node-redis" | "node-redis-6" | "ioredis"; port: number }
  | {
      kind: "node-redis-cluster" | "node-redis-6-cluster" | "ioredis-cluster";
      nodes: { host: string; port: number }[];
    }
  | { kind: "file"; path: string }
  /** The default in-memory store: every process on its own. */
  | { kind: "memory" };

export interface Target {
  audience: string;
  scope: string;
}

export interface WorkerConfig {
  store: StoreConfig;
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  targets: Target[];
  /** `null`: the store without encryption (`encryptionKey: null`). */
  encryptionKey?: string | null;
  extraParams?: Record<string, string>;
  lease?: { ttlMs?: number; waitTimeoutMs?: number };
  redisTimeoutMs?: number;
  mode:
    | { kind: "burst"; calls: number; concurrency: number }
    | { kind: "steady"; intervalMs: number; durationMs?: number }
    /** Calls only when told to, through `Worker.call`, until "stop". */
    | { kind: "commands" };
}

/** What one `Worker.call` saw: the API's status for a fetch, or the error's name and message. */
export interface CallResult {
  status?: number;
  error?: string;
}

export interface WorkerReport {
  calls: number;
  errors: string[];
  expired: number;
  events: Record<string, number>;
  /** Last 16 characters of each distinct token seen. */
  tokens: string[];
  /** Date.now() of the first token per "audience scope". */
  firstTokenAt: Record<string, number>;
  /** Date.now() when each token (by its last 16 characters) was last handed out by getToken. */
  lastServedAt: Record<string, number>;
}

export interface Worker {
  child: ChildProcess;
  pid: number;
  go(): void;
  send(message: unknown): void;
  /** In the "commands" mode: one `getToken(target)` or `client.fetch(url, target)` in the worker. */
  call(op: "getToken" | "fetch", target: Target, url?: string): Promise<CallResult>;
  report: Promise<WorkerReport>;
  /** Store events seen so far (store_unavailable, store_recovered), counted as they happen. */
  seen: Record<string, number>;
  /** "audience scope" of every target this worker has had a token for so far. */
  served: Set<string>;
  /** Last 16 characters of every distinct token this worker has handed out so far. */
  tokensSeen: Set<string>;
  /** Has the worker call `client.invalidate({ audience })`; resolves with Date.now() when it returned. */
  invalidate(audience: string): Promise<number>;
}

/**
 * Waits until `condition` holds, checking every `intervalMs`; throws naming `what` after `timeoutMs`.
 * For conditions across processes, instead of a sleep that is too short on a loaded machine.
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const running = new Set<ChildProcess>();

/** Builds dist/ when a source file is newer than it (the workers run the built package). */
export async function ensureBuilt(): Promise<void> {
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  let built = 0;
  try {
    built = Math.min(
      statSync(join(root, "dist/index.js")).mtimeMs,
      statSync(join(root, "dist/redis.js")).mtimeMs,
      statSync(join(root, "dist/node.js")).mtimeMs,
      statSync(join(root, "dist/cli/bin.js")).mtimeMs,
    );
  } catch {
    built = 0;
  }
  if (built > newest(join(root, "src"))) return;
  await promisify(execFile)("npm", ["run", "build"], { cwd: root, timeout: 300_000 });
}

/** Starts `count` workers and resolves when each has built its client and waits for "go". */
export async function startWorkers(count: number, config: WorkerConfig): Promise<Worker[]> {
  return Promise.all(Array.from({ length: count }, () => startWorker(config)));
}

function startWorker(config: WorkerConfig): Promise<Worker> {
  // Plain Node (no loader inherited from a tsx parent): the worker is JavaScript on the built package.
  const child = fork(WORKER, [], { cwd: root, execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const report = new Promise<WorkerReport>((resolveReport, reject) => {
    child.on("message", (message: { type: string; report?: WorkerReport; error?: string }) => {
      if (message.type === "report") resolveReport(message.report as WorkerReport);
      if (message.type === "failed") reject(new Error(message.error));
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`worker ${child.pid} exited (${code ?? signal}) without a report`)),
    );
  });
  report.catch(() => {});
  const seen: Record<string, number> = {};
  const served = new Set<string>();
  const calls = new Map<number, { resolve: (result: CallResult) => void; reject: (error: Error) => void }>();
  let nextCall = 0;
  child.once("exit", () => {
    for (const pending of calls.values())
      pending.reject(new Error(`worker ${child.pid} exited during a call`));
    calls.clear();
  });
  const tokensSeen = new Set<string>();
  child.on(
    "message",
    (
      message: { type: string; event?: string; target?: string; token?: string } & CallResult & {
          id?: number;
        },
    ) => {
      if (message.type === "event" && message.event) seen[message.event] = (seen[message.event] ?? 0) + 1;
      if (message.type === "first_token" && message.target) served.add(message.target);
      if (message.type === "new_token" && message.token) tokensSeen.add(message.token);
      if (message.type === "result" && message.id !== undefined) {
        const { id, status, error } = message;
        calls
          .get(id)
          ?.resolve({ ...(status !== undefined && { status }), ...(error !== undefined && { error }) });
        calls.delete(id);
      }
    },
  );
  const call = (op: "getToken" | "fetch", target: Target, url?: string) =>
    new Promise<CallResult>((resolveCall, reject) => {
      const id = nextCall++;
      calls.set(id, { resolve: resolveCall, reject });
      child.send({ type: "call", id, op, target, url });
    });
  return new Promise((resolveWorker, reject) => {
    child.once("error", reject);
    child.on("message", (message: { type: string }) => {
      if (message.type !== "ready") return;
      resolveWorker({
        child,
        pid: child.pid as number,
        go: () => child.send({ type: "go" }),
        send: (m) => child.send(m as object),
        call,
        report,
        seen,
        served,
        tokensSeen,
        invalidate: (audience) =>
          new Promise<number>((done) => {
            const onMessage = (message: { type: string; at?: number }) => {
              if (message.type !== "invalidated") return;
              child.off("message", onMessage);
              done(message.at as number);
            };
            child.on("message", onMessage);
            child.send({ type: "invalidate", audience });
          }),
      });
    });
    child.once("exit", (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
    child.send({ type: "config", config });
  });
}

/** Kills every worker still running (by PID). */
export async function stopAllWorkers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return done();
          child.once("exit", () => done());
          process.kill(child.pid, "SIGKILL");
        }),
    ),
  );
}
