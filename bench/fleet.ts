/**
 * Fleets: token requests per key per lifetime for 1, 8 and 32 processes (each a real Node process on
 * the built package, 200 getToken calls over 3 keys against oidc-provider), with the default
 * per-process memory store and with m2m-kit/redis; then getToken latency in one process for a
 * memory-store hit, a Redis store L1 hit and a Redis (L2) hit, with and without encryption.
 *
 *   npm run bench:fleet
 */
import { createClient } from "redis";
import { ClientCredentialsClient } from "../dist/index.js";
import { createRedisTokenStore, type RedisTokenStore } from "../dist/redis.js";
import { startWorkers, stopAllWorkers } from "../test/support/fleet.js";
import { ODD_SECRET, startProvider } from "../test/support/oidc.js";
import { startRedis } from "../test/support/redis.js";

const KEYS = [
  { audience: "https://api.example.com", scope: "read:data" },
  { audience: "https://api.example.com", scope: "write:data" },
  { audience: "https://billing.example.com", scope: "read:invoices" },
];
const ENCRYPTION_KEY = "bench-fleet-encryption-key-0123456789abcdef";

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
    iterations = 20_000,
  ) => {
    const options = KEYS[0];
    await client.getToken(options);
    for (let i = 0; i < 1_000; i++) {
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
  const plain = createRedisTokenStore({ redis });
  await measure("m2m-kit/redis L1 hit", client(plain));
  const sealed = createRedisTokenStore({ redis, encryptionKey: ENCRYPTION_KEY });
  await measure("m2m-kit/redis L1 hit, encrypted", client(sealed));
  await measure("m2m-kit/redis L2 hit (Redis round trip)", client(plain), () => plain.clearLocal(), 5_000);
  await measure(
    "m2m-kit/redis L2 hit, encrypted (round trip + AES-GCM)",
    client(sealed),
    () => sealed.clearLocal(),
    5_000,
  );
  await redis.quit();
  console.log("\n## token requests per key per lifetime (200 getToken calls per process over 3 keys)\n");
  console.log("| processes | memory store (per process) | m2m-kit/redis | m2m-kit/redis, encrypted |");
  console.log("| --------- | -------------------------- | ------------- | ------------------------ |");
  for (const count of (process.env.BENCH_FLEET_SIZES ?? "1,8,32").split(",").map(Number)) {
    const row: string[] = [];
    for (const variant of ["memory", "redis", "encrypted"] as const) {
      await redisServer.cli("FLUSHALL");
      provider.resetCount();
      const workers = await startWorkers(count, {
        store: variant === "memory" ? { kind: "memory" } : { kind: "node-redis", port: redisServer.port },
        tokenEndpoint: provider.tokenEndpoint,
        clientId: "basic-client",
        clientSecret: ODD_SECRET,
        targets: KEYS,
        encryptionKey: variant === "encrypted" ? ENCRYPTION_KEY : undefined,
        redisTimeoutMs: 5_000,
        mode: { kind: "burst", calls: 200, concurrency: 20 },
      });
      for (const w of workers) w.go();
      const reports = await Promise.all(workers.map((w) => w.report));
      const errors = reports.flatMap((r) => r.errors).length;
      row.push(`${provider.tokenRequests / KEYS.length}${errors ? ` (${errors} errors)` : ""}`);
    }
    console.log(`| ${count} | ${row.join(" | ")} |`);
  }
} finally {
  await stopAllWorkers();
  await provider.close();
  await redisServer.stop();
}
console.log(`\nNode ${process.version}, redis-server on 127.0.0.1, oidc-provider on 127.0.0.1.`);
