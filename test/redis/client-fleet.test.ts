/**
 * ClientCredentialsClient on m2m-kit/redis: `invalidate` and the 401 path reach the fleet, and never
 * delete a newer token another process wrote. Each client has its own store (as each process would).
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient as createClient5 } from "redis";
import { createClient as createClient6 } from "redis6";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent } from "../../src/index.js";
import { createRedisTokenStore, type RedisClientLike, type RedisTokenStore } from "../../src/redis/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
let provider: RunningProvider;
let server: RedisServer;
/** What the tests call on the user's client (node-redis 5 and 6 alike). */
type NodeRedis = RedisClientLike & { flushAll(): Promise<unknown>; quit(): Promise<unknown> };
let redis: NodeRedis;
let api: Server;
let apiUrl: string;
const refused = new Set<string>();
const stores: RedisTokenStore[] = [];

beforeAll(async () => {
  [provider, server] = await Promise.all([startProvider(), startRedis()]);
  api = createServer((req, res) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    res.writeHead(refused.has(token) ? 401 : 200).end();
  });
  api.listen(0, "127.0.0.1");
  await once(api, "listening");
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/data`;
});

afterAll(async () => {
  await new Promise((r) => api?.close(r));
  await Promise.all([provider?.close(), server?.stop()]);
});

function processClient(events: ClientEvent[] = []) {
  const store = createRedisTokenStore({
    redis,
    keyPrefix: "client-fleet:",
    encryptionKey: "client-fleet-test-key-0123456789abcdef",
  });
  stores.push(store);
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    store,
    onEvent: (e) => events.push(e),
  });
}

const CLIENTS = [
  ["node-redis 5", () => createClient5({ url: server.url })],
  ["node-redis 6", () => createClient6({ url: server.url })],
] as const;

describe.each(CLIENTS)("client on a shared Redis store through %s", (_, createClient) => {
  beforeAll(async () => {
    const client = createClient();
    client.on("error", () => {});
    await client.connect();
    redis = client;
  });
  afterAll(async () => {
    for (const store of stores.splice(0)) await store.close();
    await redis?.quit().catch(() => {});
  });

  it("invalidate({ audience }) drops every scope set of that audience for the whole fleet", async () => {
    await redis.flushAll();
    provider.resetCount();
    const a = processClient();
    const b = processClient();
    await a.getToken({ audience: API, scope: "read:data" });
    await a.getToken({ audience: API, scope: "write:data" });
    await b.getToken({ audience: API, scope: "read:data" });
    expect(provider.tokenRequests).toBe(2);
    await b.invalidate({ audience: API });
    // A process that starts now finds nothing to reuse for that audience.
    const c = processClient();
    await c.getToken({ audience: API, scope: "read:data" });
    await c.getToken({ audience: API, scope: "write:data" });
    expect(provider.tokenRequests).toBe(4);
    for (const client of [a, b, c]) await client.close();
  });

  it("a 401 drops the refused token only: a newer token another process wrote stays and is used", async () => {
    await redis.flushAll();
    provider.resetCount();
    const a = processClient();
    const b = processClient();
    const first = await a.getToken({ audience: API });
    // Another process replaces it with a newer token (a forced refresh).
    const second = await b.getToken({ audience: API, forceRefresh: true });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(provider.tokenRequests).toBe(2);
    // A still holds the first token in its L1; the API refuses it.
    refused.add(first.accessToken);
    const response = await a.fetch(apiUrl, { audience: API });
    expect(response.status).toBe(200);
    // A took the newer token from Redis instead of fetching a third, and it is still shared.
    expect(provider.tokenRequests).toBe(2);
    const c = processClient();
    expect((await c.getToken({ audience: API })).accessToken).toBe(second.accessToken);
    for (const client of [a, b, c]) await client.close();
  });

  it("a caller waiting on another process's lease gets its token (lease_wait: shared)", async () => {
    await redis.flushAll();
    provider.resetCount();
    const events: ClientEvent[] = [];
    const clients = Array.from({ length: 5 }, () => processClient(events));
    const tokens = await Promise.all(clients.map((c) => c.getToken({ audience: API, scope: "read:data" })));
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(provider.tokenRequests).toBe(1);
    expect(events.filter((e) => e.type === "token_fetched")).toHaveLength(1);
    expect(events.filter((e) => e.type === "lease_wait" && e.outcome === "shared").length).toBeGreaterThan(0);
    for (const client of clients) await client.close();
  });
});
