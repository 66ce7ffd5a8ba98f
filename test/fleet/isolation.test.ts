/**
 * A shared token never crosses a credential or a tenant: real processes on one redis-server, and on
 * one token file, against oidc-provider. Each process is a new client with an empty in-process
 * cache, as a pod or a cron run would be.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  type StoreConfig,
  startWorkers,
  stopAllWorkers,
  type WorkerConfig,
  type WorkerReport,
} from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startProvider, type TestClient } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const ENCRYPTION_KEY = "isolation-test-encryption-key-0123456789";

let provider: RunningProvider;
let redis: RedisServer;
let dir: string;
let files = 0;

beforeAll(async () => {
  [provider, redis, dir] = await Promise.all([
    startProvider(),
    startRedis(),
    mkdtemp(join(tmpdir(), "m2m-isolation-")),
    ensureBuilt(),
  ]);
});

afterEach(async () => {
  await stopAllWorkers();
});

afterAll(async () => {
  await stopAllWorkers();
  await Promise.all([provider?.close(), redis?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

/** Runs one process to the end: 20 getToken calls, 5 at a time. */
async function runProcess(config: WorkerConfig): Promise<WorkerReport> {
  const [worker] = await startWorkers(1, config);
  worker.go();
  return worker.report;
}

const rotatingClient = (secret: string): TestClient => ({
  client_id: "rotating-client",
  client_secret: secret,
  token_endpoint_auth_method: "client_secret_basic",
});

describe.each([
  ["Redis (node-redis and ioredis)", "redis"],
  ["FileTokenStore", "file"],
] as const)("%s: a shared token never crosses a credential or a tenant", (_name, kind) => {
  let path = "";
  /** The n-th process's store: alternately node-redis and ioredis on one server, or one file. */
  const store = (n: number): StoreConfig =>
    kind === "file"
      ? { kind: "file", path }
      : { kind: n % 2 === 0 ? "node-redis" : "ioredis", port: redis.port };

  beforeEach(async () => {
    path = join(dir, `tokens-${files++}.json`);
    await redis.cli("FLUSHALL");
  });

  const config = (n: number, overrides: Partial<WorkerConfig> = {}): WorkerConfig => ({
    store: store(n),
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    targets: [{ audience: API, scope: "read:data" }],
    encryptionKey: ENCRYPTION_KEY,
    redisTimeoutMs: 3_000,
    mode: { kind: "burst", calls: 20, concurrency: 5 },
    ...overrides,
  });

  it("two tenants (extraParams organization): the second gets its own token, never the first's", async () => {
    provider.resetCount();
    const a = await runProcess(config(0, { extraParams: { organization: "org_a" } }));
    const b = await runProcess(config(1, { extraParams: { organization: "org_b" } }));
    const again = await runProcess(config(2, { extraParams: { organization: "org_a" } }));
    expect([a.errors, b.errors, again.errors]).toEqual([[], [], []]);
    // org_b asked the server itself, with its own organization; org_a again shared org_a's token.
    expect(provider.requests.map((r) => r.params.get("organization"))).toEqual(["org_a", "org_b"]);
    expect(b.tokens).toHaveLength(1);
    expect(b.tokens).not.toEqual(a.tokens);
    expect(again.tokens).toEqual(a.tokens);
  }, 120_000);

  it("a mistyped secret gets invalid_client from the server, never the token the right secret obtained", async () => {
    provider.resetCount();
    const right = await runProcess(config(0));
    const wrong = await runProcess(config(1, { clientSecret: "a-mistyped-secret" }));
    expect(right.errors).toEqual([]);
    expect(wrong.tokens).toEqual([]);
    expect(wrong.errors).toHaveLength(20);
    for (const error of wrong.errors)
      expect(error).toMatch(/^OAuthError: .*invalid_client|client authentication/i);
    expect(provider.tokenRequests).toBe(2);
    // The right secret still shares its token.
    const again = await runProcess(config(2));
    expect(again.tokens).toEqual(right.tokens);
    expect(provider.tokenRequests).toBe(2);
  }, 120_000);

  it("after a secret rotation, the new secret gets its own token, not the one the old secret obtained", async () => {
    const before = await startProvider({ clients: [rotatingClient("old-secret-0123456789")] });
    const port = Number(new URL(before.issuer).port);
    let after: RunningProvider | undefined;
    try {
      const old = await runProcess(
        config(0, {
          tokenEndpoint: before.tokenEndpoint,
          clientId: "rotating-client",
          clientSecret: "old-secret-0123456789",
        }),
      );
      expect(old.errors).toEqual([]);
      expect(before.tokenRequests).toBe(1);
      // The secret is rotated: the server (same issuer, same token endpoint) knows only the new one.
      await before.close();
      after = await startProvider({ clients: [rotatingClient("new-secret-9876543210")], port });
      expect(after.tokenEndpoint).toBe(before.tokenEndpoint);
      const rotated = await runProcess(
        config(1, {
          tokenEndpoint: after.tokenEndpoint,
          clientId: "rotating-client",
          clientSecret: "new-secret-9876543210",
        }),
      );
      expect(rotated.errors).toEqual([]);
      expect(after.tokenRequests).toBe(1);
      expect(rotated.tokens).toHaveLength(1);
      expect(rotated.tokens).not.toEqual(old.tokens);
    } finally {
      await Promise.all([before.close(), after?.close()]);
    }
  }, 120_000);
});
