/**
 * The Redis token store's invalidation channel: a subscription on a connection duplicated from the
 * user's client (node-redis 4, 5 and 6, ioredis), closed by `store.close()`, and never what keeps a
 * process alive once the user has closed their own client.
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import IORedis from "ioredis";
import { createClient } from "redis";
import { createClient as createClient4 } from "redis4";
import { createClient as createClient6 } from "redis6";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisTokenStore, type RedisClientLike, type RedisStoreEvent } from "../../src/redis/index.js";
import { ensureBuilt, until } from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const run = promisify(execFile);
const EXIT = join(resolve(import.meta.dirname), "exit.mjs");

let server: RedisServer;
let provider: RunningProvider;

beforeAll(async () => {
  [server, provider] = await Promise.all([startRedis(), startProvider(), ensureBuilt()]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), provider?.close()]);
});

const subscribers = async () =>
  Number((await server.cli("PUBSUB", "NUMSUB", "m2m:invalidate")).trim().split("\n")[1]);

async function connect(kind: string): Promise<{ redis: RedisClientLike; quit: () => Promise<unknown> }> {
  if (kind === "ioredis") {
    const redis = new IORedis(server.port, "127.0.0.1");
    return { redis, quit: () => redis.quit() };
  }
  if (kind === "node-redis 4") {
    const redis = await createClient4({ url: server.url }).connect();
    return { redis, quit: () => redis.quit() };
  }
  if (kind === "node-redis 6") {
    const redis = await createClient6({ url: server.url }).connect();
    return { redis, quit: () => redis.close() };
  }
  const redis = await createClient({ url: server.url }).connect();
  return { redis, quit: () => redis.quit() };
}

describe.each(["node-redis 5", "node-redis 4", "node-redis 6", "ioredis"])("%s", (kind) => {
  it("subscribes on a connection of its own on first use; close() ends it", async () => {
    const { redis, quit } = await connect(kind);
    try {
      const events: RedisStoreEvent[] = [];
      // A loaded machine may be slow to answer: the channel is under test here, not timeouts.
      const store = createRedisTokenStore({
        redis,
        encryptionKey: null,
        redisTimeoutMs: 5_000,
        onEvent: (e) => events.push(e),
      });
      expect(await subscribers()).toBe(0);
      await store.get("k");
      await until("the subscription", () => store.invalidationChannelUp, { timeoutMs: 5_000 });
      expect(await subscribers()).toBe(1);
      expect(events.filter((e) => e.type.startsWith("invalidation_channel"))).toEqual([
        { type: "invalidation_channel_up" },
      ]);
      await store.close();
      await until("no subscription", async () => (await subscribers()) === 0, { timeoutMs: 5_000 });
      expect(store.invalidationChannelUp).toBe(false);
    } finally {
      await quit();
    }
  });

  it("twelve stores on one client: one listener per closing event, no warning; closing the client ends every subscription", async () => {
    const { redis, quit } = await connect(kind);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    const emitter = redis as unknown as { listenerCount(event: string): number };
    const before = emitter.listenerCount("end");
    let closed = false;
    try {
      const stores = Array.from({ length: 12 }, (_, i) =>
        createRedisTokenStore({ redis, encryptionKey: null, redisTimeoutMs: 5_000, keyPrefix: `m2m${i}:` }),
      );
      await Promise.all(stores.map((store) => store.get("k")));
      await until("12 subscriptions", () => stores.every((store) => store.invalidationChannelUp), {
        timeoutMs: 10_000,
      });
      expect(emitter.listenerCount("end")).toBe(before + 1);
      await Promise.all(stores.slice(0, 6).map((store) => store.close()));
      expect(emitter.listenerCount("end")).toBe(before + 1);
      await quit();
      closed = true;
      await until("no subscription", () => stores.every((store) => !store.invalidationChannelUp), {
        timeoutMs: 5_000,
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
      if (!closed) await quit();
    }
  });

  it("a process that closes its own client exits without store.close()", async () => {
    const started = Date.now();
    const cli = kind === "ioredis" ? "ioredis" : kind.replace("node-redis 5", "node-redis").replace(" ", "-");
    const { stdout } = await run(
      process.execPath,
      [EXIT, cli, String(server.port), provider.tokenEndpoint, ODD_SECRET],
      { timeout: 20_000 },
    );
    expect(stdout.trim()).toBe("subscribed");
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
