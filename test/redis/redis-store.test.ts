/**
 * m2m-kit/redis against real redis-server processes (one server and a 3-master Cluster), through
 * node-redis 6, 5 and 4 and ioredis.
 */
import IORedis, { Cluster as IORedisCluster } from "ioredis";
import { createClient, createCluster } from "redis";
import { createClient as createClient4, createCluster as createCluster4 } from "redis4";
import { createClient as createClient6, createCluster as createCluster6 } from "redis6";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredToken } from "../../src/index.js";
import {
  createRedisReplayStore,
  createRedisTokenStore,
  type RedisClientLike,
  type RedisStoreEvent,
  type RedisTokenStore,
  type RedisTokenStoreOptions,
  StoreUnavailableError,
} from "../../src/redis/index.js";
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.js";

let server: RedisServer;
let cluster: RedisCluster;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await Promise.all([server?.stop(), cluster?.stop()]);
});

type Kind =
  | "node-redis 6"
  | "node-redis 5"
  | "node-redis 4"
  | "ioredis"
  | "node-redis 6 cluster"
  | "node-redis 5 cluster"
  | "node-redis 4 cluster"
  | "ioredis cluster";

async function connect(kind: Kind): Promise<RedisClientLike> {
  const quiet = () => {};
  const rootNodes = () => cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` }));
  switch (kind) {
    case "node-redis 6": {
      const c = createClient6({ url: server.url });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "node-redis 5": {
      const c = createClient({ url: server.url });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "node-redis 4": {
      const c = createClient4({ url: server.url });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "ioredis": {
      const c = new IORedis(server.port, "127.0.0.1", { lazyConnect: true });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "node-redis 6 cluster": {
      const c = createCluster6({ rootNodes: rootNodes() });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "node-redis 5 cluster": {
      const c = createCluster({ rootNodes: rootNodes() });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "node-redis 4 cluster": {
      const c = createCluster4({ rootNodes: rootNodes() });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
    case "ioredis cluster": {
      const c = new IORedisCluster(cluster.nodes, { lazyConnect: true });
      c.on("error", quiet);
      await c.connect();
      closers.push(() => c.quit());
      return c;
    }
  }
}

function token(
  accessToken: string,
  lifetimeMs: number,
  audience = "https://api.example.com",
  obtainedAt = Date.now(),
): StoredToken {
  return {
    accessToken,
    tokenType: "Bearer",
    expiresAt: obtainedAt + lifetimeMs,
    refreshAt: obtainedAt + lifetimeMs / 2,
    obtainedAt,
    scope: ["read:data"],
    audience,
  };
}

/** A store closed after the file's tests (its invalidation channel holds a connection). */
function store(
  options: Omit<RedisTokenStoreOptions, "encryptionKey"> & Partial<RedisTokenStoreOptions>,
): RedisTokenStore {
  const created = createRedisTokenStore({ encryptionKey: null, ...options });
  closers.push(() => created.close());
  return created;
}

let unique = 0;
const key = (label: string) =>
  JSON.stringify([
    "https://issuer.example/token",
    "orders-client",
    `https://api.example.com/${label}/${unique++}`,
    [],
  ]);

const KINDS: Kind[] = [
  "node-redis 6",
  "node-redis 5",
  "node-redis 4",
  "ioredis",
  "node-redis 6 cluster",
  "node-redis 5 cluster",
  "node-redis 4 cluster",
  "ioredis cluster",
];

describe.each(KINDS)("createRedisTokenStore with %s", (kind) => {
  let redis: RedisClientLike;
  beforeAll(async () => {
    redis = await connect(kind);
  });

  it("shares a token between two stores (two processes), encrypted", async () => {
    const encryptionKey = "0123456789abcdef0123456789abcdef-fleet";
    const a = store({ redis, encryptionKey });
    const b = store({ redis, encryptionKey });
    const k = key("share");
    await a.set(k, token("tok-share", 60_000));
    expect((await b.get(k))?.accessToken).toBe("tok-share");
    // Another key cannot open it: a miss, not an error.
    const other = store({ redis, encryptionKey: "another-key-of-at-least-32-characters!!" });
    expect(await other.get(k)).toBeUndefined();
  });

  it("orders writes by when the token was obtained, not by when it expires", async () => {
    const a = store({ redis });
    const b = store({ redis });
    const k = key("order");
    const now = Date.now();
    await a.set(k, token("tok-newer", 60_000, undefined, now));
    // Obtained earlier, expiring later (a late writer, or a planted far expiry): refused.
    await b.set(k, token("tok-older", 600_000, undefined, now - 5_000));
    expect((await store({ redis }).get(k))?.accessToken).toBe("tok-newer");
    // Obtained later, expiring sooner (a shorter lifetime configured meanwhile): written.
    await b.set(k, token("tok-newest", 30_000, undefined, now + 1));
    expect((await store({ redis }).get(k))?.accessToken).toBe("tok-newest");
  });

  it("deletes an entry only while it holds the given token", async () => {
    const a = store({ redis });
    const k = key("cad");
    await a.set(k, token("tok-new", 60_000));
    await a.delete(k, { accessToken: "tok-old" });
    expect((await store({ redis }).get(k))?.accessToken).toBe("tok-new");
    await a.delete(k, { accessToken: "tok-new" });
    expect(await store({ redis }).get(k)).toBeUndefined();
  });

  it("drops a whole group from every process, keeping other groups", async () => {
    const a = store({ redis });
    const k1 = key("g1");
    const k2 = key("g2");
    const k3 = key("g3");
    await a.set(k1, token("t1", 60_000), { groups: ["client", "client/aud-1"] });
    await a.set(k2, token("t2", 60_000), { groups: ["client", "client/aud-1"] });
    await a.set(k3, token("t3", 60_000), { groups: ["client", "client/aud-2"] });
    const b = store({ redis });
    await b.deleteGroup("client/aud-1");
    const c = store({ redis });
    expect(await c.get(k1)).toBeUndefined();
    expect(await c.get(k2)).toBeUndefined();
    expect((await c.get(k3))?.accessToken).toBe("t3");
    await b.deleteGroup("client");
    expect(await store({ redis }).get(k3)).toBeUndefined();
  });

  it("a lease has one holder; release is compare-and-delete", async () => {
    const a = store({ redis });
    const b = store({ redis });
    const k = key("lease");
    const releaseA = await a.lease?.acquire(k, 10_000);
    expect(releaseA).toBeTypeOf("function");
    expect(await b.lease?.acquire(k, 10_000)).toBeUndefined();
    await releaseA?.();
    const releaseB = await b.lease?.acquire(k, 10_000);
    expect(releaseB).toBeTypeOf("function");
    // A's second release (a holder whose lease expired and was taken) must not free B's lease.
    await releaseA?.();
    expect(await a.lease?.acquire(k, 10_000)).toBeUndefined();
    await releaseB?.();
  });

  it("answers from its in-process cache (L1) before the refresh window", async () => {
    const a = store({ redis });
    const k = key("l1");
    await a.set(k, token("tok-l1", 60_000));
    // Another process rolls Redis forward; A's hit before refreshAt does not ask Redis.
    await store({ redis }).set(k, token("tok-remote", 120_000));
    expect(a.get(k)).toMatchObject({ accessToken: "tok-l1" });
  });

  it("remembers DPoP jtis once within their window (SET NX with expiry)", async () => {
    const replay = createRedisReplayStore({ redis });
    const jti = `jti-${unique++}`;
    expect(await replay.remember(jti, Date.now() + 60_000)).toBe(true);
    expect(await replay.remember(jti, Date.now() + 60_000)).toBe(false);
    expect(await createRedisReplayStore({ redis }).remember(jti, Date.now() + 60_000)).toBe(false);
    const short = `jti-${unique++}`;
    expect(await replay.remember(short, Date.now() + 50)).toBe(true);
    // Redis expires the entry after its window (bounded wait on Redis's own clock); once it has, the
    // jti is taken again, this time for a minute, so the check below does not race a 50 ms expiry.
    for (let i = 0; i < 500 && !(await replay.remember(short, Date.now() + 60_000)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await replay.remember(short, Date.now() + 60_000)).toBe(false);
  });
});

describe("Redis Cluster layout", () => {
  it("a token and its lease share a hash slot; no name or value shows the client, audience or token", async () => {
    const redis = await connect("ioredis cluster");
    const tokenStore = store({
      redis,
      keyPrefix: "layout:",
      encryptionKey: "0123456789abcdef0123456789abcdef-fleet",
    });
    const k = JSON.stringify([
      "https://issuer.example/token",
      "orders-client",
      "https://api.example.com",
      ["read:data"],
    ]);
    await tokenStore.set(k, token("eyJ-secret-token-value", 60_000), { groups: ["g-orders-client"] });
    const release = await tokenStore.lease?.acquire(k, 10_000);
    const keys = (await cluster.cliAll("--scan", "--pattern", "layout:*")).flatMap((o) =>
      o.split("\n").filter(Boolean),
    );
    const tokenKey = keys.find((n) => n.endsWith(":t")) as string;
    const leaseKey = keys.find((n) => n.endsWith(":l")) as string;
    expect(tokenKey).toBeDefined();
    expect(leaseKey).toBeDefined();
    const slot = (name: string) => (redis as IORedisCluster).cluster("KEYSLOT", name);
    expect(await slot(tokenKey)).toBe(await slot(leaseKey));
    const dump = JSON.stringify([keys, await (redis as IORedisCluster).hgetall(tokenKey)]);
    for (const secret of ["orders-client", "api.example.com", "eyJ-secret-token-value", "read:data"]) {
      expect(dump).not.toContain(secret);
    }
    await release?.();
  });
});

describe("Redis down", () => {
  it("answers from L1, never throws, reports unavailable and recovered", async () => {
    const own = await startRedis();
    const redis = createClient({ url: own.url, socket: { reconnectStrategy: () => 50 } });
    redis.on("error", () => {});
    await redis.connect();
    const events: RedisStoreEvent[] = [];
    const tokenStore = store({
      redis,
      redisTimeoutMs: 200,
      retryAfterMs: 100,
      onEvent: (e) => events.push(e),
    });
    try {
      const k = key("down");
      await tokenStore.set(k, token("tok-down", 60_000));
      await own.stop();
      expect((await tokenStore.get(k))?.accessToken).toBe("tok-down");
      await expect(tokenStore.set(key("down-2"), token("tok-2", 60_000))).resolves.toBeUndefined();
      await expect(tokenStore.delete(key("down-3"))).resolves.toBeUndefined();
      await expect(Promise.resolve(tokenStore.lease?.acquire(k, 1000))).rejects.toThrow();
      expect(tokenStore.unavailable).toBe(true);
      expect(events.find((e) => e.type.startsWith("store_"))).toMatchObject({ type: "store_unavailable" });
      await own.start();
      // Back: the first command after reconnection succeeds (bounded wait for the client's reconnect).
      for (let i = 0; i < 600 && tokenStore.unavailable; i++) {
        await new Promise((r) => setTimeout(r, 50));
        await tokenStore.set(key("up"), token("tok-up", 60_000));
      }
      expect(tokenStore.unavailable).toBe(false);
      expect(events.map((e) => e.type).filter((t) => t.startsWith("store_"))).toEqual([
        "store_unavailable",
        "store_recovered",
      ]);
      expect(JSON.stringify(events)).not.toContain("tok-");
    } finally {
      await redis.quit().catch(() => {});
      await own.stop();
    }
  });

  it("the replay store refuses to answer rather than let a replay through", async () => {
    const own = await startRedis();
    const redis = new IORedis(own.port, "127.0.0.1", { maxRetriesPerRequest: 0, lazyConnect: true });
    redis.on("error", () => {});
    await redis.connect();
    try {
      const replay = createRedisReplayStore({ redis, redisTimeoutMs: 200 });
      await own.stop();
      const error = await Promise.resolve(replay.remember("jti-x", Date.now() + 60_000)).catch((e) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error.code).toBe("ERR_STORE_UNAVAILABLE");
    } finally {
      redis.disconnect();
      await own.stop();
    }
  });
});

describe("options", () => {
  it("a bad option is a TypeError naming it", () => {
    const redis = { sendCommand: async () => null } as RedisClientLike;
    const encryptionKey = null;
    expect(() => createRedisTokenStore({ redis: {} as RedisClientLike, encryptionKey })).toThrow(
      /redis must be/,
    );
    expect(() => createRedisTokenStore({ redis, encryptionKey, keyPrefix: "a{b}" })).toThrow(/keyPrefix/);
    expect(() => createRedisTokenStore({ redis, encryptionKey: "short" })).toThrow(/encryptionKey/);
    expect(() => createRedisTokenStore({ redis, encryptionKey, redisTimeoutMs: -1 })).toThrow(
      /redisTimeoutMs/,
    );
    expect(() => createRedisTokenStore({ redis, encryptionKey, lease: { ttlMs: 0 } })).toThrow(/lease.ttlMs/);
    expect(() => createRedisReplayStore({ redis, redisTimeoutMs: Number.NaN })).toThrow(/redisTimeoutMs/);
  });

  it("encryptionKey is required: missing or undefined is a TypeError naming it; null opts out", () => {
    const redis = { sendCommand: async () => null } as RedisClientLike;
    const missing = { redis } as RedisTokenStoreOptions;
    expect(() => createRedisTokenStore(missing)).toThrow(TypeError);
    expect(() => createRedisTokenStore(missing)).toThrow(/encryptionKey is required/);
    expect(() => createRedisTokenStore({ redis, encryptionKey: undefined as never })).toThrow(
      /encryptionKey/,
    );
    expect(() => createRedisTokenStore({ redis, encryptionKey: null })).not.toThrow();
  });
});
