/**
 * `clientAssertion`: a platform token sent as `client_assertion` (private_key_jwt), read afresh for
 * every token request, refused without a request when it has expired or expires within 10 s, and
 * keyed in the cache by its `iss`, `sub` and `aud` — never by its path or the assertion itself.
 *
 * oidc-provider takes assertions whose `iss` and `sub` are the client (its own private_key_jwt rule);
 * for workloads that share one client id, a small real token endpoint issues a token per assertion
 * subject.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AssertionSource,
  ClientAssertionError,
  ClientCredentialsClient,
  type ClientEvent,
  type TokenStore,
} from "../../src/index.js";
import { fileAssertion } from "../../src/node/index.js";
import { createRedisTokenStore, type RedisTokenStore } from "../../src/redis/index.js";
import { mintAssertion, subjectOf, type TokenFile, tokenFile } from "../support/assertions.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
let as: RunningProvider;
let keys: ClientKeys;
let endpoint: FaultServer;
let redisServer: RedisServer;
let redis: ReturnType<typeof createClient>;
const files: TokenFile[] = [];
const stores: RedisTokenStore[] = [];
let platformKey: CryptoKey;

beforeAll(async () => {
  keys = await generateClientKeys();
  [as, endpoint, redisServer] = await Promise.all([
    startProvider({ clients: defaultClients(keys) }),
    startFaultServer(),
    startRedis(),
  ]);
  redis = createClient({ url: redisServer.url });
  redis.on("error", () => {});
  await redis.connect();
  platformKey = (
    await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      false,
      ["sign", "verify"],
    )
  ).privateKey;
  // A token endpoint that trusts any assertion and issues a token naming its subject.
  let issued = 0;
  endpoint.script({
    echo: (request) => {
      const sub = subjectOf(new URLSearchParams(request.body).get("client_assertion"));
      return { access_token: `token-for-${sub}-${++issued}`, token_type: "Bearer", expires_in: 3600 };
    },
  });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.quit().catch(() => {});
  for (const file of files) file.remove();
  await Promise.all([as?.close(), endpoint?.close(), redisServer?.stop()]);
});

/** An assertion oidc-provider accepts for rsa-client: its own private_key_jwt, written by a "platform". */
function rsaClientAssertion(options: { expiresInSeconds?: number } = {}) {
  return mintAssertion(keys.rsa.privateKey, {
    iss: "rsa-client",
    sub: "rsa-client",
    aud: as.issuer,
    kid: "rsa-1",
    ...options,
  });
}

/** A platform token of one workload (a service account), for the test token endpoint. */
function workloadToken(sub: string, options: { expiresInSeconds?: number } = {}) {
  return mintAssertion(platformKey, { iss: "https://platform.example", sub, aud: "m2m", ...options });
}

function newFile(): TokenFile {
  const file = tokenFile();
  files.push(file);
  return file;
}

function redisStore(): RedisTokenStore {
  const store = createRedisTokenStore({
    redis,
    keyPrefix: "workload:",
    encryptionKey: "workload-test-key-0123456789abcdef",
  });
  stores.push(store);
  return store;
}

/** A client of the test token endpoint: one client id for every workload. */
function workloadClient(clientAssertion: AssertionSource | string, store?: TokenStore) {
  return new ClientCredentialsClient({
    tokenEndpoint: endpoint.tokenEndpoint,
    clientId: "shared-app",
    clientAssertion,
    ...(store && { store }),
  });
}

function assertionsSeen(): Array<string | null> {
  return endpoint.requests.map((r) => new URLSearchParams(r.body).get("client_assertion"));
}

describe("clientAssertion against oidc-provider", () => {
  it("fileAssertion: the file is read for every token request; the server sees each rewrite", async () => {
    const file = newFile();
    const written = [await rsaClientAssertion()];
    file.write(written[0] as string);
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: fileAssertion(file.path),
    });
    as.resetCount();
    const first = await client.getToken({ audience: API });
    // The kubelet rewrites the file: the same workload, so the cached token stays.
    written.push(await rsaClientAssertion());
    file.write(written[1] as string);
    expect((await client.getToken({ audience: API })).accessToken).toBe(first.accessToken);
    expect(as.tokenRequests).toBe(1);
    await client.getToken({ audience: API, forceRefresh: true });
    written.push(await rsaClientAssertion());
    file.write(written[2] as string);
    await client.getToken({ audience: API, forceRefresh: true });
    expect(as.requests.map((r) => r.params.get("client_assertion"))).toEqual(written);
    expect(as.requests.map((r) => r.params.get("client_assertion_type"))).toEqual([BEARER, BEARER, BEARER]);
    expect(as.requests.map((r) => r.params.get("client_id"))).toEqual([
      "rsa-client",
      "rsa-client",
      "rsa-client",
    ]);
    await client.close();
  });

  it("100 concurrent calls make 1 token request", async () => {
    const file = newFile();
    file.write(await rsaClientAssertion());
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: fileAssertion(file.path),
    });
    as.resetCount();
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client.getToken({ audience: API })));
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(as.tokenRequests).toBe(1);
    await client.close();
  });

  it("an expired assertion, or one expiring within 10 s, is ERR_CLIENT_ASSERTION and no request", async () => {
    for (const expiresInSeconds of [-60, 5]) {
      const file = newFile();
      const assertion = await rsaClientAssertion({ expiresInSeconds });
      file.write(assertion);
      const events: ClientEvent[] = [];
      const client = new ClientCredentialsClient({
        issuer: as.issuer,
        clientId: "rsa-client",
        clientAssertion: fileAssertion(file.path),
        onEvent: (event) => events.push(event),
      });
      as.resetCount();
      const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClientAssertionError);
      expect(error).toMatchObject({
        code: "ERR_CLIENT_ASSERTION",
        parameter: "client_assertion",
        problem: "expired",
        source: `file ${file.path}`,
      });
      expect((error as Error).message).toContain(file.path);
      expect((error as Error).message).toContain(
        expiresInSeconds < 0 ? "has expired" : "expires within 10 s",
      );
      expect((error as Error).message).not.toContain(assertion);
      expect(as.tokenRequests).toBe(0);
      expect(JSON.stringify(events)).not.toContain(assertion);
      // The kubelet writes a fresh one: the next call reads it at once (no remembered failure).
      file.write(await rsaClientAssertion());
      await expect(client.getToken({ audience: API })).resolves.toBeTruthy();
      expect(as.tokenRequests).toBe(1);
      await client.close();
    }
  });

  it("a source that fails is an ERR_CLIENT_ASSERTION naming the source, and no request", async () => {
    as.resetCount();
    const missing = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: fileAssertion("/nonexistent/m2m/token"),
    });
    const error = await missing.getToken({ audience: API }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    expect(error).toMatchObject({ problem: "source_failed", source: "file /nonexistent/m2m/token" });
    expect((error as Error).message).toBe(
      "client_assertion source file /nonexistent/m2m/token failed: the file does not exist (is the projected volume mounted, and the path right?); no token request was sent",
    );
    const leaky = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: {
        description: "vault sink",
        getAssertion: async () => {
          throw new Error("could not parse eyJ-what-the-source-read");
        },
      },
    });
    const other = await leaky.getToken({ audience: API }).catch((e: unknown) => e);
    expect(other).toMatchObject({ code: "ERR_CLIENT_ASSERTION", source: "vault sink" });
    // Another's message may quote what it read: it stays on `cause`, out of the message.
    expect((other as Error).message).toBe(
      "client_assertion source vault sink failed; no token request was sent",
    );
    expect(as.tokenRequests).toBe(0);
    await missing.close();
    await leaky.close();
  });
});

describe("a source that never answers", () => {
  it("is given up after timeoutMs, on the first read and on a token request's, without a request", {
    timeout: 5_000,
  }, async () => {
    endpoint.requests.length = 0;
    let calls = 0;
    const token = await workloadToken("slow");
    // Answers the first time only, then never: and it does not heed its signal.
    const source: AssertionSource = {
      description: "stuck sink",
      getAssertion: () => (calls++ === 0 ? Promise.resolve(token) : new Promise<string>(() => {})),
    };
    const stuck: AssertionSource = {
      description: "stuck sink",
      getAssertion: () => new Promise<string>(() => {}),
    };
    for (const [clientAssertion, options] of [
      [stuck, {}],
      [source, { forceRefresh: true }],
    ] as const) {
      const client = new ClientCredentialsClient({
        tokenEndpoint: endpoint.tokenEndpoint,
        clientId: "shared-app",
        clientAssertion,
        timeoutMs: 100,
        retry: false,
      });
      if (clientAssertion === source) await client.getToken({ audience: API });
      const error = await client.getToken({ audience: API, ...options }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClientAssertionError);
      expect((error as Error).message).toBe(
        "client_assertion source stuck sink failed: no answer within 100 ms; no token request was sent",
      );
      expect(error).toMatchObject({ transient: true });
      await client.close();
    }
    expect(endpoint.requests).toHaveLength(1);
  });
});

describe("the cache key holds the assertion's iss, sub and aud", () => {
  it("two workloads with one client id never share a token, in memory or through Redis; one workload's pods do", async () => {
    await redis.flushAll();
    endpoint.requests.length = 0;
    const shared = redisStore();
    // Two pods of two workloads: each reads its own file (on each node, the same path).
    const [a, b] = [newFile(), newFile()];
    a.write(await workloadToken("system:serviceaccount:orders:worker"));
    b.write(await workloadToken("system:serviceaccount:billing:worker"));
    const orders = workloadClient(fileAssertion(a.path), shared);
    const billing = workloadClient(fileAssertion(b.path), shared);
    const ordersToken = await orders.getToken({ audience: API });
    const billingToken = await billing.getToken({ audience: API });
    expect(ordersToken.accessToken).toMatch(/^token-for-system:serviceaccount:orders:worker-/);
    expect(billingToken.accessToken).toMatch(/^token-for-system:serviceaccount:billing:worker-/);
    expect(endpoint.requests).toHaveLength(2);
    // Another pod of the orders workload, with its own assertion (another jti) and its own store
    // client: the fleet shares the token.
    const c = newFile();
    c.write(await workloadToken("system:serviceaccount:orders:worker"));
    const ordersTwo = workloadClient(fileAssertion(c.path), redisStore());
    expect((await ordersTwo.getToken({ audience: API })).accessToken).toBe(ordersToken.accessToken);
    // And so does a client sharing the in-memory store, when it is the same workload.
    const memory = workloadClient(fileAssertion(a.path), shared);
    expect((await memory.getToken({ audience: API })).accessToken).toBe(ordersToken.accessToken);
    expect(endpoint.requests).toHaveLength(2);
    for (const client of [orders, billing, ordersTwo, memory]) await client.close();
  });

  it("a file that comes to hold another workload's token: that token is never stored under the first's key", async () => {
    await redis.flushAll();
    endpoint.requests.length = 0;
    const file = newFile();
    file.write(await workloadToken("workload-a"));
    const store = redisStore();
    const client = workloadClient(fileAssertion(file.path), store);
    const first = await client.getToken({ audience: API });
    expect(first.accessToken).toMatch(/^token-for-workload-a-/);
    file.write(await workloadToken("workload-b"));
    const second = await client.getToken({ audience: API, forceRefresh: true });
    expect(second.accessToken).toMatch(/^token-for-workload-b-/);
    // A pod of workload A still finds A's token, not B's.
    const other = newFile();
    other.write(await workloadToken("workload-a"));
    const podOfA = workloadClient(fileAssertion(other.path), redisStore());
    expect((await podOfA.getToken({ audience: API })).accessToken).toBe(first.accessToken);
    // The client itself now answers for B, without a request.
    expect((await client.getToken({ audience: API })).accessToken).toBe(second.accessToken);
    expect(subjectOf(assertionsSeen()[1])).toBe("workload-b");
    expect(endpoint.requests).toHaveLength(2);
    for (const c of [client, podOfA]) await c.close();
  });

  it('a SPIFFE JWT-SVID (kind "jwt-spiffe") is sent with client_assertion_type …:jwt-spiffe', async () => {
    endpoint.requests.length = 0;
    const file = newFile();
    file.write(await workloadToken("spiffe://example.org/ns/orders/sa/worker"));
    const client = workloadClient(fileAssertion(file.path, { kind: "jwt-spiffe" }));
    await client.getToken({ audience: API });
    const params = new URLSearchParams(endpoint.requests[0]?.body);
    expect(params.get("client_assertion_type")).toBe(
      "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe",
    );
    expect(params.get("client_id")).toBe("shared-app");
    await client.close();
  });

  it("a string or a function works as a source too; a function is called for every request", async () => {
    endpoint.requests.length = 0;
    let calls = 0;
    const client = workloadClient(await workloadToken("fixed"));
    await client.getToken({ audience: API });
    await client.getToken({ audience: API, forceRefresh: true });
    const counted = new ClientCredentialsClient({
      tokenEndpoint: endpoint.tokenEndpoint,
      clientId: "shared-app",
      clientAssertion: () => {
        calls++;
        return workloadToken("function");
      },
    });
    await counted.getToken({ audience: API });
    await counted.getToken({ audience: API });
    await counted.getToken({ audience: API, forceRefresh: true });
    expect(calls).toBe(2);
    expect(
      endpoint.requests.map((r) => subjectOf(new URLSearchParams(r.body).get("client_assertion"))),
    ).toEqual(["fixed", "fixed", "function", "function"]);
    for (const c of [client, counted]) await c.close();
  });
});
