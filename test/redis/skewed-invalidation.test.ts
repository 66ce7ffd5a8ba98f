/**
 * Hosts' clocks differ. A tombstone written by `invalidate()` on a host whose clock runs ahead names
 * a time that lies in the future for the others (up to the 5 s the store tolerates). A process behind
 * it must fetch one new token, not one per call until its own clock passes the tombstone: the token it
 * obtained after it saw the tombstone is newer than the invalidation, whatever the two clocks say.
 * oidc-provider and redis-server are real; the tombstone is written as the script of a host 3 s
 * ahead writes it.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { createRedisTokenStore, type RedisTokenStore } from "../../src/redis/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const TARGET = { audience: API, scope: "read:data" };
const KEY = "skewed-invalidation-test-key-0123456789";
const AHEAD_MS = 3_000;

let provider: RunningProvider;
let server: RedisServer;
let redis: ReturnType<typeof createClient>;
const stores: RedisTokenStore[] = [];

beforeAll(async () => {
  [provider, server] = await Promise.all([startProvider(), startRedis()]);
  redis = createClient({ url: server.url });
  redis.on("error", () => {});
  await redis.connect();
});

afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.quit().catch(() => {});
  await Promise.all([provider?.close(), server?.stop()]);
});

function processClient(): ClientCredentialsClient {
  const store = createRedisTokenStore({ redis, encryptionKey: KEY });
  stores.push(store);
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    store,
  });
}

describe("a tombstone from a host whose clock runs ahead", () => {
  it("costs a process one token request, not one per call", async () => {
    const client = processClient();
    const first = await client.getToken(TARGET);
    const [tokenKey] = await redis.keys("m2m:*:t");
    const name = (tokenKey as string).slice(
      (tokenKey as string).indexOf("{") + 1,
      (tokenKey as string).indexOf("}"),
    );
    // What TOMBSTONE_IF writes on the host ahead, then its message on the invalidation channel.
    const ttl = await redis.pTTL(tokenKey as string);
    await redis.del(tokenKey as string);
    await redis.hSet(tokenKey as string, { t: "1", o: String(Date.now() + AHEAD_MS) });
    await redis.pExpire(tokenKey as string, ttl);
    await redis.publish("m2m:invalidate", `v1 ${name}`);

    provider.resetCount();
    const started = Date.now();
    const seen = new Set<string>();
    // Calls for a second (well inside the 3 s the other clock is ahead).
    for (let i = 0; i < 200 && Date.now() - started < 1_000; i++) {
      seen.add((await client.getToken(TARGET)).accessToken);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    seen.delete(first.accessToken); // served until the message arrived
    expect(provider.tokenRequests).toBe(1);
    expect(seen.size).toBe(1);
  });
});
