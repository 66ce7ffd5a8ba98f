/**
 * Stores and transport refuse a misspelt option at creation, naming the option it misspells: the
 * Redis token store (and its lease) against a real redis-server, the Redis replay store, the file
 * store (and its lease), the memory stores and createNodeFetch. A misspelt `encryptionKey` used to
 * leave tokens in clear in a shared store.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MEMORY_TOKEN_STORE_OPTION_NAMES } from "../../src/client/store.js";
import { MEMORY_REPLAY_STORE_OPTION_NAMES } from "../../src/dpop/replay-store.js";
import { createMemoryReplayStore, MemoryTokenStore, type StoredToken } from "../../src/index.js";
import { NODE_FETCH_OPTION_NAMES } from "../../src/node/fetch-options.js";
import {
  LEASE_OPTION_NAMES as FILE_LEASE_OPTION_NAMES,
  FILE_TOKEN_STORE_OPTION_NAMES,
} from "../../src/node/file-store-options.js";
import { createNodeFetch, FileTokenStore } from "../../src/node/index.js";
import { createRedisReplayStore, createRedisTokenStore } from "../../src/redis/index.js";
import { REDIS_REPLAY_STORE_OPTION_NAMES } from "../../src/redis/replay-store.js";
import { LEASE_OPTION_NAMES, REDIS_TOKEN_STORE_OPTION_NAMES } from "../../src/redis/token-store-options.js";
import { expectTypoError, namesOf, thrown, typosOf } from "../support/option-names.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const KEY = "0123456789abcdef0123456789abcdef-fleet";
const ACCESS_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMifQ.c2ln";
let server: RedisServer;
let redis: ReturnType<typeof createClient>;
let dir: string;

beforeAll(async () => {
  server = await startRedis();
  redis = createClient({ url: server.url });
  await redis.connect();
  dir = await mkdtemp(join(tmpdir(), "m2m-options-"));
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const token = (): StoredToken => {
  const now = Date.now();
  return {
    accessToken: ACCESS_TOKEN,
    tokenType: "Bearer",
    expiresAt: now + 600_000,
    refreshAt: now + 500_000,
    scope: [],
    audience: "https://api.example.com",
  };
};

describe("Redis stores", () => {
  it("createRedisTokenStore and its lease", () => {
    for (const [typo, meant] of typosOf(namesOf(REDIS_TOKEN_STORE_OPTION_NAMES))) {
      const error = thrown(() => createRedisTokenStore({ redis, encryptionKey: KEY, [typo]: 1 } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of createRedisTokenStore()");
    }
    for (const [typo, meant] of typosOf(namesOf(LEASE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createRedisTokenStore({ redis, encryptionKey: KEY, lease: { [typo]: 100 } } as never)),
        typo,
        meant,
        "lease.",
      );
    }
  });

  it("encryptionkey (case) is refused; with encryptionKey, Redis never holds the token in clear", async () => {
    expect(thrown(() => createRedisTokenStore({ redis, encryptionkey: KEY } as never))).toHaveProperty(
      "message",
      "encryptionkey is not an option of createRedisTokenStore(); did you mean encryptionKey?",
    );
    const store = createRedisTokenStore({ redis, keyPrefix: "names:", encryptionKey: KEY });
    await store.set("key", token());
    const names = await redis.keys("names:*");
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const type = await redis.type(name);
      const dump =
        type === "hash" ? JSON.stringify(await redis.hGetAll(name)) : String(await redis.get(name));
      expect(dump).not.toContain(ACCESS_TOKEN);
    }
  });

  it("createRedisReplayStore", () => {
    for (const [typo, meant] of typosOf(namesOf(REDIS_REPLAY_STORE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createRedisReplayStore({ redis, [typo]: 1 } as never)),
        typo,
        meant,
      );
    }
  });
});

describe("one host and one process", () => {
  it("FileTokenStore and its lease; encryptionkey is refused, the file never holds the token in clear", async () => {
    for (const [typo, meant] of typosOf(namesOf(FILE_TOKEN_STORE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => new FileTokenStore({ [typo]: "x" } as never)),
        typo,
        meant,
      );
    }
    for (const [typo, meant] of typosOf(namesOf(FILE_LEASE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => new FileTokenStore({ lease: { [typo]: 100 } } as never)),
        typo,
        meant,
        "lease.",
      );
    }
    const path = join(dir, "tokens.json");
    expect(thrown(() => new FileTokenStore({ path, encryptionkey: KEY } as never))).toHaveProperty(
      "message",
      "encryptionkey is not an option of new FileTokenStore(); did you mean encryptionKey?",
    );
    await new FileTokenStore({ path, encryptionKey: KEY }).set("key", token());
    expect(await readFile(path, "utf8")).not.toContain(ACCESS_TOKEN);
  });

  it("MemoryTokenStore and createMemoryReplayStore", () => {
    for (const [typo, meant] of typosOf(namesOf(MEMORY_TOKEN_STORE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => new MemoryTokenStore({ [typo]: 5 } as never)),
        typo,
        meant,
      );
    }
    for (const [typo, meant] of typosOf(namesOf(MEMORY_REPLAY_STORE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createMemoryReplayStore({ [typo]: 5 } as never)),
        typo,
        meant,
      );
    }
    expect(thrown(() => new MemoryTokenStore({ maxEntries: 0 }))).toHaveProperty(
      "message",
      "maxEntries must be a positive integer",
    );
  });

  it("createNodeFetch", () => {
    for (const [typo, meant] of typosOf(namesOf(NODE_FETCH_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createNodeFetch({ [typo]: false } as never)),
        typo,
        meant,
      );
    }
    // proxi: false used to keep the environment's proxy.
    expect(thrown(() => createNodeFetch({ proxi: false } as never))).toHaveProperty(
      "message",
      "proxi is not an option of createNodeFetch(); did you mean proxy?",
    );
  });
});
