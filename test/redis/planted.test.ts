/**
 * What is read back from Redis is untrusted input. A value planted under the name of a real entry
 * (a far-future expiry and scope admin, a sealed value with a huge expiry, a token "obtained" in the
 * future, garbage, a value of another type, a DPoP-bound token for a Bearer client) is never served,
 * and the next real write replaces it, so the fleet shares tokens again. Each client has its own
 * store, as each process would; oidc-provider and redis-server are real.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent } from "../../src/index.js";
import { createTokenSealer } from "../../src/lib/token-crypto.js";
import { createRedisTokenStore, type RedisStoreEvent, type RedisTokenStore } from "../../src/redis/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const KEY = "planted-values-test-key-0123456789abcdef";
const YEAR_MS = 366 * 24 * 3600 * 1000;

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

beforeEach(async () => {
  await redis.flushAll();
  provider.resetCount();
});

/** A new process: its own store (empty in-process cache) and client. */
function processClient(
  encryptionKey: string | null,
  events: Array<RedisStoreEvent | ClientEvent> = [],
): ClientCredentialsClient {
  const store = createRedisTokenStore({ redis, encryptionKey, onEvent: (e) => events.push(e) });
  stores.push(store);
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    store,
    onEvent: (e) => events.push(e),
  });
}

const plainValue = (fields: Record<string, unknown>) =>
  JSON.stringify({
    accessToken: "planted-admin-token",
    tokenType: "Bearer",
    scope: ["admin"],
    audience: API,
    ...fields,
  });

type Plant = (tokenKey: string, name: string) => Promise<void>;

const now = () => Date.now();

const plants: Array<[string, string | null, Plant]> = [
  [
    "plain JSON, scope admin, expiring in 10 years",
    null,
    async (tokenKey) => {
      const expiresAt = now() + 10 * YEAR_MS;
      await redis.hSet(tokenKey, {
        v: plainValue({ expiresAt, refreshAt: expiresAt - 60_000, obtainedAt: now() }),
        e: String(expiresAt),
        o: String(now()),
      });
    },
  ],
  [
    "sealed with the fleet's key, expiring in 100 years",
    KEY,
    async (tokenKey, name) => {
      const obtainedAt = now();
      const expiresAt = obtainedAt + 100 * YEAR_MS;
      const value = plainValue({ expiresAt, refreshAt: expiresAt - 60_000, obtainedAt });
      await redis.hSet(tokenKey, {
        v: await createTokenSealer(KEY).seal(value, name),
        e: String(expiresAt),
        o: String(obtainedAt),
      });
    },
  ],
  [
    "obtained an hour from now",
    null,
    async (tokenKey) => {
      const obtainedAt = now() + 3_600_000;
      const expiresAt = obtainedAt + 3_600_000;
      await redis.hSet(tokenKey, {
        v: plainValue({ expiresAt, refreshAt: expiresAt - 60_000, obtainedAt }),
        e: String(expiresAt),
        o: String(obtainedAt),
      });
    },
  ],
  [
    "garbage with a huge expiry field",
    KEY,
    async (tokenKey) => {
      await redis.hSet(tokenKey, { v: "%%garbage%%", e: "9e15", o: "garbage" });
    },
  ],
  [
    "a value of another type under the name",
    KEY,
    async (tokenKey) => {
      await redis.del(tokenKey);
      await redis.set(tokenKey, "garbage");
    },
  ],
  [
    "a DPoP-bound token for a client without DPoP",
    null,
    async (tokenKey) => {
      const obtainedAt = now() - 1_000;
      const expiresAt = obtainedAt + 3_600_000;
      await redis.hSet(tokenKey, {
        v: plainValue({
          tokenType: "DPoP",
          scope: ["read:data"],
          expiresAt,
          refreshAt: expiresAt - 60_000,
          obtainedAt,
        }),
        e: String(expiresAt),
        o: String(obtainedAt),
      });
    },
  ],
];

describe("a value planted in Redis", () => {
  it.each(plants)(
    "%s: never served; the next real write replaces it",
    async (_name, encryptionKey, plant) => {
      const first = await processClient(encryptionKey).getToken({ audience: API, scope: "read:data" });
      const names = await redis.keys("m2m:*:t");
      expect(names).toHaveLength(1);
      const tokenKey = names[0] as string;
      await plant(tokenKey, tokenKey.slice(tokenKey.indexOf("{") + 1, tokenKey.indexOf("}")));

      // A process that starts now does not take the planted value: it asks the server.
      const events: Array<RedisStoreEvent | ClientEvent> = [];
      const second = await processClient(encryptionKey, events).getToken({
        audience: API,
        scope: "read:data",
      });
      expect(second.accessToken).not.toBe("planted-admin-token");
      expect(second.scope).toEqual(["read:data"]);
      expect(second.accessToken).not.toBe(first.accessToken);
      expect(provider.tokenRequests).toBe(2);
      const refusals = events.filter((e) => e.type === "entry_refused" || e.type === "stored_token_refused");
      expect(JSON.stringify(refusals)).not.toContain("planted");

      // Its token replaced the planted value: the next process shares it without a request.
      const third = await processClient(encryptionKey).getToken({ audience: API, scope: "read:data" });
      expect(third.accessToken).toBe(second.accessToken);
      expect(provider.tokenRequests).toBe(2);
    },
  );
});
