/**
 * `invalidate()` reaches every live process of a fleet within a second: a pub/sub message on a
 * connection each store duplicates from its own Redis client; when that connection is killed (the
 * message is lost across the reconnect), the re-read of in-process entries older than a second; on a
 * Cluster, that re-read alone bounds it. Real processes, a real redis-server, oidc-provider.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  type StoreConfig,
  startWorkers,
  stopAllWorkers,
  until,
  type Worker,
  type WorkerConfig,
} from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.js";

const API = "https://api.example.com";
const CHANNEL = "m2m:invalidate";

let provider: RunningProvider;
let redis: RedisServer;
let cluster: RedisCluster;

beforeAll(async () => {
  [provider, redis, cluster] = await Promise.all([
    startProvider(),
    startRedis(),
    startRedisCluster(),
    ensureBuilt(),
  ]);
});

afterEach(async () => {
  await stopAllWorkers();
});

afterAll(async () => {
  await stopAllWorkers();
  await Promise.all([provider?.close(), redis?.stop(), cluster?.stop()]);
});

function config(store: StoreConfig): WorkerConfig {
  return {
    store,
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    targets: [{ audience: API, scope: "read:data" }],
    encryptionKey: "invalidate-test-encryption-key-0123456789",
    redisTimeoutMs: 3_000,
    // A call every 20 ms: each process hands out its cached token until it drops it.
    mode: { kind: "steady", intervalMs: 20 },
  };
}

/** Starts the processes and waits until each hands out the one shared token. */
async function startFleet(stores: StoreConfig[]): Promise<{ workers: Worker[]; token: string }> {
  const workers = (await Promise.all(stores.map((s) => startWorkers(1, config(s))))).flat();
  for (const w of workers) w.go();
  await until("every process to have the shared token", () => workers.every((w) => w.tokensSeen.size === 1));
  const tokens = new Set(workers.flatMap((w) => [...w.tokensSeen]));
  expect(tokens.size).toBe(1);
  return { workers, token: [...tokens][0] as string };
}

/**
 * After `invalidatedAt`, waits until every process has a new token, stops them, and returns how long
 * after `invalidatedAt` each one last handed out the dropped token (ms; negative: before it).
 */
async function lastServedAfter(workers: Worker[], dropped: string, invalidatedAt: number): Promise<number[]> {
  await until("every process to hand out a new token", () => workers.every((w) => w.tokensSeen.size >= 2), {
    timeoutMs: 20_000,
  });
  for (const w of workers) w.send({ type: "stop" });
  const reports = await Promise.all(workers.map((w) => w.report));
  for (const r of reports) expect(r.errors).toEqual([]);
  return reports.map((r) => (r.lastServedAt[dropped] as number) - invalidatedAt);
}

const numsub = async () => Number((await redis.cli("PUBSUB", "NUMSUB", CHANNEL)).trim().split("\n")[1]);

describe("invalidate({ audience }) reaches every live process within a second", () => {
  it("3 processes (node-redis, ioredis): each drops its in-process copy at once (pub/sub)", async () => {
    await redis.cli("FLUSHALL");
    const { workers, token } = await startFleet([
      { kind: "node-redis", port: redis.port },
      { kind: "ioredis", port: redis.port },
      { kind: "node-redis", port: redis.port },
    ]);
    const invalidatedAt = await (workers[0] as Worker).invalidate(API);
    const subscribers = await numsub();
    const delays = await lastServedAfter(workers, token, invalidatedAt);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(1_000);
    // Each store had subscribed on a connection of its own.
    expect(subscribers).toBe(3);
    console.log(
      `invalidate: the dropped token was last handed out ${delays.join(", ")} ms after it returned`,
    );
  }, 120_000);

  it("the subscriber connections killed during the invalidate (CLIENT KILL TYPE pubsub): still within a second", async () => {
    await redis.cli("FLUSHALL");
    const { workers, token } = await startFleet([
      { kind: "node-redis", port: redis.port },
      { kind: "ioredis", port: redis.port },
      { kind: "node-redis", port: redis.port },
    ]);
    await until("3 subscriptions", async () => (await numsub()) === 3);
    const upBefore = workers.map((w) => w.seen.invalidation_channel_up ?? 0);
    // The message is published while every subscriber is reconnecting (100 ms): it is lost.
    const killed = Number((await redis.cli("CLIENT", "KILL", "TYPE", "pubsub")).trim());
    const invalidatedAt = await (workers[0] as Worker).invalidate(API);
    expect(killed).toBe(3);
    const delays = await lastServedAfter(workers, token, invalidatedAt);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(1_000);
    // Every subscription went down and came back.
    for (const [i, w] of workers.entries()) {
      expect(w.seen.invalidation_channel_down ?? 0).toBeGreaterThanOrEqual(1);
      expect(w.seen.invalidation_channel_up ?? 0).toBeGreaterThan(upBefore[i] as number);
    }
    console.log(
      `invalidate with the subscribers killed: the dropped token was last handed out ${delays.join(", ")} ms after it returned`,
    );
  }, 120_000);

  it("Redis Cluster (node-redis and ioredis clusters): within a second", async () => {
    const nodes = cluster.nodes;
    const { workers, token } = await startFleet([
      { kind: "node-redis-cluster", nodes },
      { kind: "ioredis-cluster", nodes },
      { kind: "node-redis-cluster", nodes },
    ]);
    const invalidatedAt = await (workers[0] as Worker).invalidate(API);
    const delays = await lastServedAfter(workers, token, invalidatedAt);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(1_000);
    console.log(
      `invalidate on a Cluster: the dropped token was last handed out ${delays.join(", ")} ms after it returned`,
    );
  }, 180_000);
});
