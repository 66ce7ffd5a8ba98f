/**
 * Fleets: token requests per key per lifetime for 1, 8 and 32 processes (real Node processes on the
 * built package, 60 getToken calls each over 3 keys against oidc-provider), with the default
 * per-process memory store and with m2m-kit/redis; then getToken latency in one process for a
 * memory-store hit, a Redis store L1 hit and a Redis (L2) hit, with and without encryption.
 *
 * The processes are started once (the largest row's count) and reused for every row and store:
 * Node's start-up is most of a process's cost here, and 32 × 3 start-ups on 2 cores took longer
 * than the measurement itself. Each round gets a fresh client and store in every process.
 *
 *   npm run bench:fleet            (BENCH_FLEET_SIZES=1,8,32 by default)
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { createClient } from "redis";
import { ClientCredentialsClient } from "../dist/index.js";
import { createRedisTokenStore, type RedisTokenStore } from "../dist/redis.js";
import { ODD_SECRET, startProvider } from "../test/support/oidc.js";
import { startRedis } from "../test/support/redis.js";

const KEYS = [
  { audience: "https://api.example.com", scope: "read:data" },
  { audience: "https://api.example.com", scope: "write:data" },
  { audience: "https://billing.example.com", scope: "read:invoices" },
];
const ENCRYPTION_KEY = "bench-fleet-encryption-key-0123456789abcdef";

interface Round {
  redisPort: number | undefined;
  encryptionKey: string | undefined;
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  targets: typeof KEYS;
  calls: number;
  concurrency: number;
}

const WORKER = join(import.meta.dirname, "fleet-worker.mjs");
const running = new Set<ChildProcess>();

/** A process of the fleet, started once; `round` runs one round in it and resolves with its report. */
function startWorker(): Promise<{
  round: (round: Round) => Promise<{ calls: number; errors: number; firstError?: string }>;
}> {
  // Plain Node (no loader inherited from tsx): the worker is JavaScript on the built package.
  const child = fork(WORKER, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("message", () =>
      resolve({
        round: (round) =>
          new Promise((done, fail) => {
            child.once("message", (message: { type: string; report?: unknown; error?: string }) => {
              if (message.type === "report")
                done(message.report as { calls: number; errors: number; firstError?: string });
              else fail(new Error(message.error));
            });
            child.send({ type: "round", round });
          }),
      }),
    );
  });
}

/** Stops every worker by its PID. */
async function stopAllWorkers(): Promise<void> {
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

const provider = await startProvider();
const redisServer = await startRedis();

try {
  console.log("## getToken latency in one process (µs, median / p99)\n");
  const redis = createClient({ url: redisServer.url });
  redis.on("error", () => {});
  await redis.connect();
  const measure = async (
    name: string,
    client: ClientCredentialsClient,
    before?: () => void,
    iterations = 10_000,
  ) => {
    const options = KEYS[0];
    await client.getToken(options);
    for (let i = 0; i < 500; i++) {
      before?.();
      await client.getToken(options);
    }
    const samples = new Float64Array(iterations);
    for (let i = 0; i < iterations; i++) {
      before?.();
      const t0 = process.hrtime.bigint();
      await client.getToken(options);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1_000;
    }
    samples.sort();
    const at = (q: number) =>
      samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(1);
    console.log(`| ${name} | ${at(0.5)} | ${at(0.99)} |`);
  };
  const client = (store?: RedisTokenStore) =>
    new ClientCredentialsClient({
      tokenEndpoint: provider.tokenEndpoint,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      store,
    });
  console.log("| getToken | median | p99 |");
  console.log("| -------- | ------ | --- |");
  await measure("memory store hit (default)", client());
  const plain = createRedisTokenStore({ redis, encryptionKey: null });
  await measure("m2m-kit/redis L1 hit", client(plain));
  const sealed = createRedisTokenStore({ redis, encryptionKey: ENCRYPTION_KEY });
  await measure("m2m-kit/redis L1 hit, encrypted", client(sealed));
  await measure("m2m-kit/redis L2 hit (Redis round trip)", client(plain), () => plain.clearLocal(), 2_000);
  await measure(
    "m2m-kit/redis L2 hit, encrypted (round trip + AES-GCM)",
    client(sealed),
    () => sealed.clearLocal(),
    2_000,
  );
  await Promise.all([plain.close(), sealed.close()]);
  await redis.quit();

  const sizes = (process.env.BENCH_FLEET_SIZES ?? "1,8,32").split(",").map(Number);
  const spawnStarted = performance.now();
  const workers = await Promise.all(Array.from({ length: Math.max(...sizes) }, () => startWorker()));
  const spawnSeconds = (performance.now() - spawnStarted) / 1000;
  const CALLS = 60;
  console.log(`\n## token requests per key per lifetime (${CALLS} getToken calls per process over 3 keys)\n`);
  console.log("| processes | memory store (per process) | m2m-kit/redis | m2m-kit/redis, encrypted |");
  console.log("| --------- | -------------------------- | ------------- | ------------------------ |");
  const roundTimes: string[] = [];
  for (const count of sizes) {
    const row: string[] = [];
    for (const variant of ["memory", "redis", "encrypted"] as const) {
      await redisServer.cli("FLUSHALL");
      provider.resetCount();
      const started = performance.now();
      const reports = await Promise.all(
        workers.slice(0, count).map((worker) =>
          worker.round({
            redisPort: variant === "memory" ? undefined : redisServer.port,
            encryptionKey: variant === "encrypted" ? ENCRYPTION_KEY : undefined,
            tokenEndpoint: provider.tokenEndpoint,
            clientId: "basic-client",
            clientSecret: ODD_SECRET,
            targets: KEYS,
            calls: CALLS,
            concurrency: 10,
          }),
        ),
      );
      roundTimes.push(`${count} ${variant} ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const errors = reports.reduce((sum, report) => sum + report.errors, 0);
      const firstError = reports.find((report) => report.firstError)?.firstError;
      if (firstError) console.error(`${count} ${variant}: ${firstError}`);
      row.push(`${provider.tokenRequests / KEYS.length}${errors ? ` (${errors} errors)` : ""}`);
    }
    console.log(`| ${count} | ${row.join(" | ")} |`);
  }
  console.log(
    `\n${workers.length} processes started in ${spawnSeconds.toFixed(1)} s (once, reused); rounds: ${roundTimes.join(", ")}.`,
  );
} finally {
  await stopAllWorkers();
  await provider.close();
  await redisServer.stop();
}
console.log(`\nNode ${process.version}, redis-server on 127.0.0.1, oidc-provider on 127.0.0.1.`);
