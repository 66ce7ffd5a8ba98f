/**
 * Fleets of real Node processes sharing tokens through a real redis-server (and a 3-master Redis
 * Cluster), against oidc-provider: one token request per key per lifetime for the whole fleet.
 */
import { once } from "node:events";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  type StoreConfig,
  startWorkers,
  stopAllWorkers,
  type Target,
  until,
  type WorkerConfig,
  type WorkerReport,
} from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.js";

const API = "https://api.example.com";
const BILLING = "https://billing.example.com";
const KEYS: Target[] = [
  { audience: API, scope: "read:data" },
  { audience: API, scope: "write:data" },
  { audience: BILLING, scope: "read:invoices" },
];
const ENCRYPTION_KEY = "fleet-test-encryption-key-0123456789abcdef";

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

function config(store: StoreConfig, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    store,
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    targets: KEYS,
    encryptionKey: ENCRYPTION_KEY,
    // Coordination is under test here, not timeouts: a loaded CI machine may be slow to answer.
    redisTimeoutMs: 3_000,
    mode: { kind: "burst", calls: 1000, concurrency: 25 },
    ...overrides,
  };
}

/** Runs the workers from "go" to their reports. */
async function run(count: number, workerConfig: WorkerConfig): Promise<WorkerReport[]> {
  const workers = await startWorkers(count, workerConfig);
  for (const w of workers) w.go();
  return Promise.all(workers.map((w) => w.report));
}

function requestsFor(target: { audience: string; scope: string }): number {
  return provider.requests.filter(
    (r) => r.params.get("resource") === target.audience && (r.params.get("scope") ?? "") === target.scope,
  ).length;
}

const totals = (reports: WorkerReport[]) => ({
  calls: reports.reduce((n, r) => n + r.calls, 0),
  errors: reports.flatMap((r) => r.errors),
  expired: reports.reduce((n, r) => n + r.expired, 0),
});

describe("one token per key per lifetime for the fleet", () => {
  it.each([
    ["node-redis", 8],
    ["node-redis-6", 4],
    ["ioredis", 8],
  ] as const)(
    "%s: %i processes × 1000 getToken over 3 keys → 3 token requests",
    async (kind, count) => {
      await redis.cli("FLUSHALL");
      provider.resetCount();
      const reports = await run(count, config({ kind, port: redis.port }));
      expect(totals(reports)).toEqual({ calls: count * 1000, errors: [], expired: 0 });
      expect(KEYS.map(requestsFor), JSON.stringify(reports.map((r) => r.events))).toEqual([1, 1, 1]);
      expect(provider.tokenRequests).toBe(3);
      // Every process saw the same 3 tokens.
      for (const r of reports) expect(r.tokens).toHaveLength(3);
      expect(new Set(reports.flatMap((r) => r.tokens)).size).toBe(3);
    },
    180_000,
  );

  it("Redis Cluster: 3 processes (node-redis 5, node-redis 6 and ioredis clusters) → 1 request per key", async () => {
    provider.resetCount();
    const nodes = cluster.nodes;
    const workers = [
      ...(await startWorkers(1, config({ kind: "node-redis-cluster", nodes }))),
      ...(await startWorkers(1, config({ kind: "node-redis-6-cluster", nodes }))),
      ...(await startWorkers(1, config({ kind: "ioredis-cluster", nodes }))),
    ];
    for (const w of workers) w.go();
    const reports = await Promise.all(workers.map((w) => w.report));
    expect(totals(reports)).toEqual({ calls: 3000, errors: [], expired: 0 });
    expect(KEYS.map(requestsFor), JSON.stringify(reports.map((r) => r.events))).toEqual([1, 1, 1]);
    expect(provider.tokenRequests).toBe(3);
  }, 180_000);

  it("SCAN with encryptionKey: no key name or value holds the client id, an audience, a scope or a token", async () => {
    await redis.cli("FLUSHALL");
    provider.resetCount();
    const reports = await run(2, config({ kind: "node-redis", port: redis.port }));
    const tokens = reports.flatMap((r) => r.tokens);
    const names = (await redis.cli("--scan")).split("\n").filter(Boolean);
    expect(names.length).toBeGreaterThanOrEqual(3);
    let dump = names.join("\n");
    for (const name of names) {
      const type = (await redis.cli("TYPE", name)).trim();
      if (type === "hash") dump += await redis.cli("HGETALL", name);
      else if (type === "set") dump += await redis.cli("SMEMBERS", name);
      else if (type === "string") dump += await redis.cli("GET", name);
    }
    for (const secret of [
      "basic-client",
      "api.example.com",
      "billing",
      "read:data",
      "127.0.0.1",
      ...tokens,
    ]) {
      expect(dump).not.toContain(secret);
    }
  }, 120_000);
});

/** Forwards token requests to oidc-provider, except the first, which it holds without an answer. */
async function startHoldingProxy(
  target: string,
): Promise<{ url: string; held: number; close(): Promise<void> }> {
  const heldResponses: ServerResponse[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (heldResponses.length === 0) {
      heldResponses.push(res);
      return;
    }
    const answer = await fetch(target, {
      method: "POST",
      headers: {
        "content-type": req.headers["content-type"] ?? "",
        authorization: req.headers.authorization ?? "",
      },
      body: Buffer.concat(chunks),
    });
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "" });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    get held() {
      return heldResponses.length;
    },
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

describe("failures", () => {
  it("the lease holder SIGKILLed mid-request → the others get a token within the lease TTL + 1 s", async () => {
    await redis.cli("FLUSHALL");
    provider.resetCount();
    const proxy = await startHoldingProxy(provider.tokenEndpoint);
    const ttlMs = 2_000;
    try {
      const workers = await startWorkers(
        4,
        config(
          { kind: "ioredis", port: redis.port },
          {
            tokenEndpoint: proxy.url,
            targets: [KEYS[0]],
            lease: { ttlMs, waitTimeoutMs: 30_000 },
            mode: { kind: "burst", calls: 20, concurrency: 5 },
          },
        ),
      );
      const [holder, ...others] = workers;
      holder.go();
      await until("the holder's token request to reach the proxy", () => proxy.held > 0);
      expect(proxy.held).toBe(1);
      // The others find the lease taken: each tries SET NX (and fails) before it waits.
      const leaseAttempts = async () =>
        Number(/cmdstat_set:calls=(\d+)/.exec(await redis.cli("INFO", "commandstats"))?.[1] ?? 0);
      const attemptsBefore = await leaseAttempts();
      for (const w of others) w.go();
      await until(
        "the others to find the lease taken",
        async () => (await leaseAttempts()) >= attemptsBefore + 3,
      );
      const killedAt = Date.now();
      process.kill(holder.pid, "SIGKILL");
      const reports = await Promise.all(others.map((w) => w.report));
      expect(totals(reports)).toEqual({ calls: 60, errors: [], expired: 0 });
      const delays = reports.map((r) => r.firstTokenAt[`${API} read:data`] - killedAt);
      for (const delay of delays) expect(delay).toBeLessThanOrEqual(ttlMs + 1_000);
      // One request after the holder's: the one that never reached the provider is not counted.
      expect(provider.tokenRequests).toBe(1);
      console.log(
        `lease holder killed: the others had a token after ${delays.join(", ")} ms (lease TTL ${ttlMs} ms)`,
      );
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it.each(["node-redis", "node-redis-6"] as const)(
    "%s: Redis stopped mid-run: every call succeeds, ≤ 1 request per process per key; back → sharing resumes",
    async (kind) => {
      await redis.cli("FLUSHALL");
      provider.resetCount();
      const count = 4;
      const before: Target = KEYS[0];
      const during: Target = { audience: API, scope: "read:data write:data" };
      const after: Target = { audience: BILLING, scope: "" };
      const workers = await startWorkers(
        count,
        config(
          { kind, port: redis.port },
          { targets: [before], redisTimeoutMs: 200, mode: { kind: "steady", intervalMs: 20 } },
        ),
      );
      const name = (target: Target) => `${target.audience} ${target.scope}`;
      const allServed = (target: Target) => () => workers.every((w) => w.served.has(name(target)));
      const allSeen = (event: string) => () => workers.every((w) => (w.seen[event] ?? 0) >= 1);
      // Conditions, not sleeps: each step waits for what the processes report (a loaded machine is slow).
      for (const w of workers) w.go();
      await until("every process to have the shared token", allServed(before));
      await redis.stop();
      for (const w of workers) w.send({ type: "targets", targets: [before, during] });
      await until("every process to see Redis down", allSeen("store_unavailable"));
      await until("every process to get a token while Redis is down", allServed(during));
      const readyBefore = workers.map((w) => w.seen.redis_ready ?? 0);
      await redis.start();
      await until(
        "every process's Redis client to reconnect",
        () => workers.every((w, i) => (w.seen.redis_ready ?? 0) > (readyBefore[i] as number)),
        { timeoutMs: 60_000 },
      );
      // A store skips Redis for 1 s after its last failure, which came before every process had its
      // token above: 1.5 s from here is past it, however slow the machine.
      await new Promise((r) => setTimeout(r, 1_500));
      for (const w of workers) w.send({ type: "targets", targets: [before, during, after] });
      await until("every process to get the new key's token", allServed(after));
      await until("every process to see Redis back", allSeen("store_recovered"));
      for (const w of workers) w.send({ type: "stop" });
      const reports = await Promise.all(workers.map((w) => w.report));
      const t = totals(reports);
      expect(t.errors).toEqual([]);
      expect(t.expired).toBe(0);
      expect(requestsFor(before)).toBe(1);
      expect(requestsFor(during)).toBeGreaterThanOrEqual(1);
      expect(requestsFor(during)).toBeLessThanOrEqual(count);
      expect(requestsFor(after)).toBe(1);
      for (const r of reports) {
        expect(r.events.store_unavailable).toBe(1);
        expect(r.events.store_recovered).toBe(1);
      }
      console.log(
        `Redis down: ${t.calls} calls, 0 errors; requests while down ${requestsFor(during)} for ${count} processes; after: ${requestsFor(after)}`,
      );
    },
    120_000,
  );
});

describe("refresh across the fleet", () => {
  let shortLived: RunningProvider;
  beforeAll(async () => {
    shortLived = await startProvider({ apis: [{ identifier: API, scopes: ["read:data"], ttlSeconds: 6 }] });
  });
  afterAll(async () => {
    await shortLived?.close();
  });

  it("6 s tokens, 4 processes calling every 100 ms for 30 s: never expired, one request per refresh cycle", async () => {
    await redis.cli("FLUSHALL");
    const durationMs = 30_000;
    const reports = await run(
      4,
      config(
        { kind: "node-redis", port: redis.port },
        {
          tokenEndpoint: shortLived.tokenEndpoint,
          targets: [KEYS[0]],
          mode: { kind: "steady", intervalMs: 100, durationMs },
        },
      ),
    );
    const t = totals(reports);
    expect(t.errors).toEqual([]);
    expect(t.expired).toBe(0);
    // Refresh window: half the 6 s lifetime (the 60 s minimum is capped at half), less ≤ 10 % jitter:
    // a cycle of 3–3.3 s, so 30 s ÷ 3 s = 10 requests for the fleet, ± 1.
    expect(shortLived.tokenRequests).toBeGreaterThanOrEqual(9);
    expect(shortLived.tokenRequests).toBeLessThanOrEqual(11);
    const perProcess = reports.map((r) => r.tokens.length);
    console.log(
      `30 s, 6 s tokens, 4 processes: ${t.calls} calls, ${shortLived.tokenRequests} token requests, tokens seen per process ${perProcess.join(", ")}`,
    );
  }, 90_000);
});
