/**
 * `client.fetch`'s 401 rule across a fleet: real Node processes on the built package, sharing tokens
 * through a real redis-server (or a file), against an API that revokes a token moments after it was
 * issued. The first 401 replaces the token once for the whole fleet: the process that gets there
 * first fetches the replacement, the others find it in the shared store.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import {
  ensureBuilt,
  type StoreConfig,
  startWorkers,
  stopAllWorkers,
  type Worker,
} from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";
import { type RevokingApi, startRevokingApi } from "../support/revoking-api.js";

const API = "https://api.example.com";
const TARGET = { audience: API, scope: "read:data" };
const ENCRYPTION_KEY = "fleet-401-test-encryption-key-0123456789";

let provider: RunningProvider;
let redis: RedisServer;
let api: RevokingApi;
let dir: string;

beforeAll(async () => {
  [provider, redis, dir] = await Promise.all([
    startProvider(),
    startRedis(),
    mkdtemp(join(tmpdir(), "m2m-fleet-401-")),
    ensureBuilt(),
  ]);
  api = await startRevokingApi(provider, { audience: API });
});

afterEach(async () => {
  await stopAllWorkers();
});

afterAll(async () => {
  await stopAllWorkers();
  await api?.close();
  await Promise.all([provider?.close(), redis?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function fleet(store: StoreConfig): Promise<Worker[]> {
  const workers = await startWorkers(3, {
    store,
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    targets: [TARGET],
    encryptionKey: ENCRYPTION_KEY,
    redisTimeoutMs: 3_000,
    mode: { kind: "commands" },
  });
  for (const worker of workers) worker.go();
  return workers;
}

/** Each token the API saw, with the statuses it answered for it, in order of first sight. */
function answersByToken(): number[][] {
  const byToken = new Map<string, number[]>();
  for (const { token, status } of api.requests) byToken.set(token, [...(byToken.get(token) ?? []), status]);
  return [...byToken.values()];
}

/**
 * The revoked token was refused (once by the process that replaced it; the others may have dropped
 * it already, on the store's invalidation message, and never sent it), then the one replacement was
 * accepted for all three processes.
 */
function expectRefusedThenServed(): void {
  const [revoked, replacement, ...more] = answersByToken();
  expect(more).toEqual([]);
  expect(revoked?.length).toBeGreaterThanOrEqual(1);
  expect(revoked?.length).toBeLessThanOrEqual(3);
  expect(new Set(revoked)).toEqual(new Set([401]));
  expect(replacement).toEqual([200, 200, 200]);
}

it.each([
  ["node-redis", () => ({ kind: "node-redis", port: redis.port }) as StoreConfig],
  ["node-redis 6", () => ({ kind: "node-redis-6", port: redis.port }) as StoreConfig],
  ["ioredis", () => ({ kind: "ioredis", port: redis.port }) as StoreConfig],
  ["FileTokenStore", () => ({ kind: "file", path: join(dir, "tokens.json") }) as StoreConfig],
])(
  "%s: a token revoked moments after it was issued costs the fleet of 3 processes one replacement token request",
  async (_, store) => {
    await redis.cli("FLUSHALL");
    provider.resetCount();
    api.reset();
    const [first, ...others] = (await fleet(store())) as [Worker, Worker, Worker];
    const url = `${api.url}/data`;
    // Every process holds the same token: one token request for the fleet.
    expect(await first.call("getToken", TARGET)).toEqual({});
    expect(await Promise.all(others.map((w) => w.call("getToken", TARGET)))).toEqual([{}, {}]);
    expect(provider.tokenRequests).toBe(1);

    // The API revokes it. The process that fetched it a moment ago is refused first: it replaces
    // the token at once, and the request succeeds.
    expect(await first.call("fetch", TARGET, url)).toEqual({ status: 200 });
    expect(provider.tokenRequests).toBe(2);
    // The others are refused too and take the replacement from the shared store: no request.
    expect(await Promise.all(others.map((w) => w.call("fetch", TARGET, url)))).toEqual([
      { status: 200 },
      { status: 200 },
    ]);
    expect(provider.tokenRequests).toBe(2);
    expectRefusedThenServed();

    // The replacement is revoked in turn, and all three are refused at the same moment: still one
    // token request for the fleet.
    api.arm();
    api.requests.length = 0;
    expect(await Promise.all([first, ...others].map((w) => w.call("fetch", TARGET, url)))).toEqual([
      { status: 200 },
      { status: 200 },
      { status: 200 },
    ]);
    expect(provider.tokenRequests).toBe(3);
    expectRefusedThenServed();

    for (const worker of [first, ...others]) worker.send({ type: "stop" });
    const reports = await Promise.all([first, ...others].map((w) => w.report));
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
  },
  60_000,
);
