/**
 * Workload identity end to end against the dev server: apps with federated credentials trust a local
 * "platform" issuer (m2m-kit/testing); the client authenticates with the platform's tokens from a file
 * the test rewrites, from a GitHub-like OIDC endpoint, or as the grant itself (jwt-bearer, token
 * exchange), with no secret anywhere.
 */
import { decodeJwt } from "jose";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import {
  ClientAssertionError,
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  type FetchLike,
  githubActionsAssertion,
  OAuthError,
} from "../../src/index.js";
import { fileAssertion, workloadIdentity } from "../../src/node/index.js";
import { createRedisTokenStore, type RedisTokenStore } from "../../src/redis/index.js";
import {
  createGitHubActionsTokenServer,
  createTestIssuer,
  type GitHubActionsTokenServer,
  type TestIssuer,
} from "../../src/testing/index.js";
import { type TokenFile, tokenFile } from "../support/assertions.js";
import { ManualClock } from "../support/clock.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const ORDERS = "https://orders.example.com";
const ORDERS_SA = "system:serviceaccount:orders:worker";
const BILLING_SA = "system:serviceaccount:billing:worker";
const REPO = "repo:acme/orders:ref:refs/heads/main";
const ENTRA_AUDIENCE = "api://AzureADTokenExchange";
let platform: TestIssuer;
let dev: DevServer;
let github: GitHubActionsTokenServer;
let redisServer: RedisServer;
let redis: ReturnType<typeof createClient>;
const files: TokenFile[] = [];
const stores: RedisTokenStore[] = [];
/** Every token request body the clients sent, as they went on the wire. */
const sent: URLSearchParams[] = [];
const recording: FetchLike = (input, init) => {
  if (init?.method === "POST") sent.push(new URLSearchParams(String(init.body)));
  return fetch(input, init);
};

/** A Kubernetes projected service-account token for the dev server (its issuer is the default audience). */
const serviceAccountToken = (sub: string, expiresInSeconds = 600) => {
  const [, , namespace, serviceAccount] = sub.split(":");
  return platform.mintKubernetesToken({ audience: dev.issuer, namespace, serviceAccount, expiresInSeconds });
};

beforeAll(async () => {
  platform = await createTestIssuer({ algorithm: "ES256" });
  const federated = [
    { issuer: platform.issuer, subject: ORDERS_SA },
    { issuer: platform.issuer, subject: BILLING_SA },
  ];
  dev = await startDevServer({
    keysPath: false,
    config: {
      apis: [{ identifier: ORDERS, scopes: ["read:orders", "write:orders"] }],
      apps: [
        {
          clientId: "workers",
          federated,
          grantTypes: ["client_credentials", "jwt-bearer", "token-exchange"],
          grants: { [ORDERS]: ["read:orders"] },
        },
        {
          clientId: "ci-deployer",
          federated: [{ issuer: platform.issuer, subject: REPO, audience: ENTRA_AUDIENCE }],
          grants: { [ORDERS]: ["write:orders"] },
        },
      ],
    },
  });
  [github, redisServer] = await Promise.all([
    createGitHubActionsTokenServer(platform, { repository: "acme/orders" }),
    startRedis(),
  ]);
  redis = createClient({ url: redisServer.url });
  redis.on("error", () => {});
  await redis.connect();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.quit().catch(() => {});
  for (const file of files) file.remove();
  await Promise.all([dev?.close(), platform?.close(), github?.close(), redisServer?.stop()]);
});

function newFile(): TokenFile {
  const file = tokenFile();
  files.push(file);
  return file;
}

function worker(options: Partial<ClientCredentialsClientOptions>) {
  return new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "workers",
    fetch: recording,
    ...options,
  });
}

describe("client assertions from the platform", () => {
  it("fileAssertion: each forced refresh sends the file's current token, and the server checks it", async () => {
    const file = newFile();
    const first = await serviceAccountToken(ORDERS_SA);
    file.write(first);
    const clock = new ManualClock();
    const client = worker({ clientAssertion: fileAssertion(file.path), clock });
    sent.length = 0;
    const token = await client.getToken({ audience: ORDERS });
    expect(decodeJwt(token.accessToken)).toMatchObject({ client_id: "workers", aud: ORDERS });
    // The kubelet rewrites the file with a forged token: the next refresh carries it, and the server refuses it.
    file.write(
      await platform.mintKubernetesToken({
        audience: dev.issuer,
        namespace: "orders",
        serviceAccount: "worker",
        forged: true,
      }),
    );
    const refused = await client.getToken({ audience: ORDERS, forceRefresh: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OAuthError);
    expect(refused).toMatchObject({ error: "invalid_client" });
    expect((refused as OAuthError).hint).toBe(
      `check that the server trusts the client assertion from file ${file.path} for this client: its iss, sub and aud must match the federated credential`,
    );
    // And again with a good one, once the refusal is no longer remembered (10 s).
    clock.advance(11_000);
    const third = await serviceAccountToken(ORDERS_SA);
    file.write(third);
    await client.getToken({ audience: ORDERS, forceRefresh: true });
    const assertions = sent.map((body) => body.get("client_assertion"));
    expect(assertions[0]).toBe(first);
    expect(assertions[1]).not.toBe(first);
    expect(assertions[2]).toBe(third);
    expect(sent.map((body) => body.get("client_id"))).toEqual(["workers", "workers", "workers"]);
    await client.close();
  });

  it("an expired token in the file: ERR_CLIENT_ASSERTION and no request", async () => {
    const file = newFile();
    file.write(await serviceAccountToken(ORDERS_SA, -30));
    const client = worker({ clientAssertion: fileAssertion(file.path) });
    const before = dev.tokenRequests;
    const error = await client.getToken({ audience: ORDERS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    expect(error).toMatchObject({ code: "ERR_CLIENT_ASSERTION", problem: "expired" });
    expect(dev.tokenRequests).toBe(before);
    await client.close();
  });

  it("100 calls make 1 token request", async () => {
    const file = newFile();
    file.write(await serviceAccountToken(ORDERS_SA));
    const client = worker({ clientAssertion: fileAssertion(file.path) });
    const before = dev.tokenRequests;
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => client.getToken({ audience: ORDERS })),
    );
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(dev.tokenRequests - before).toBe(1);
    await client.close();
  });

  it("two workloads of one app never share a token, in memory or through Redis", async () => {
    await redis.flushAll();
    const store = () => {
      const made = createRedisTokenStore({
        redis,
        keyPrefix: "dev-workload:",
        encryptionKey: "dev-workload-key-0123456789abcdef",
      });
      stores.push(made);
      return made;
    };
    const [ordersFile, billingFile] = [newFile(), newFile()];
    ordersFile.write(await serviceAccountToken(ORDERS_SA));
    billingFile.write(await serviceAccountToken(BILLING_SA));
    const before = dev.tokenRequests;
    const orders = worker({ clientAssertion: fileAssertion(ordersFile.path), store: store() });
    const billing = worker({ clientAssertion: fileAssertion(billingFile.path), store: store() });
    const a = await orders.getToken({ audience: ORDERS });
    const b = await billing.getToken({ audience: ORDERS });
    expect(a.accessToken).not.toBe(b.accessToken);
    expect(dev.tokenRequests - before).toBe(2);
    // A second pod of the orders workload shares its token through Redis.
    const podFile = newFile();
    podFile.write(await serviceAccountToken(ORDERS_SA));
    const pod = worker({ clientAssertion: fileAssertion(podFile.path), store: store() });
    expect((await pod.getToken({ audience: ORDERS })).accessToken).toBe(a.accessToken);
    expect(dev.tokenRequests - before).toBe(2);
    for (const client of [orders, billing, pod]) await client.close();
  });

  it("githubActionsAssertion: the job's token from a GitHub-like endpoint, for the audience the app trusts", async () => {
    const asked = github.audiences.length;
    const client = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "ci-deployer",
      clientAssertion: githubActionsAssertion({
        audience: ENTRA_AUDIENCE,
        requestUrl: github.requestUrl,
        requestToken: github.requestToken,
      }),
    });
    const token = await client.getToken({ audience: ORDERS });
    expect(decodeJwt(token.accessToken)).toMatchObject({ client_id: "ci-deployer", scope: "write:orders" });
    expect(github.audiences.slice(asked)).toEqual([ENTRA_AUDIENCE]);
    await client.close();
  });

  it("workloadIdentity: each platform's token reaches the dev server", async () => {
    const file = newFile();
    file.write(await serviceAccountToken(ORDERS_SA));
    const identities = [
      workloadIdentity({
        env: {
          AZURE_FEDERATED_TOKEN_FILE: file.path,
          AZURE_CLIENT_ID: "workers",
          AZURE_TENANT_ID: "contoso",
        },
      }),
      workloadIdentity({ env: github.env, audience: ENTRA_AUDIENCE }),
      workloadIdentity({ env: {}, tokenFile: file.path }),
    ];
    expect(identities.map((identity) => identity.source)).toEqual(["azure", "github-actions", "token-file"]);
    for (const identity of identities) {
      const client = new ClientCredentialsClient({
        issuer: dev.issuer,
        clientId: identity.source === "github-actions" ? "ci-deployer" : (identity.clientId ?? "workers"),
        clientAssertion: identity.clientAssertion,
      });
      expect((await client.getToken({ audience: ORDERS })).accessToken).toBeTruthy();
      await client.close();
    }
  });
});

describe("the platform token as the grant itself", () => {
  it("jwt-bearer (RFC 7523 §2.1): the token is about the workload; no client authentication", async () => {
    const file = newFile();
    file.write(await serviceAccountToken(BILLING_SA));
    sent.length = 0;
    const client = worker({ grant: { type: "jwt-bearer", assertion: fileAssertion(file.path) } });
    const token = await client.getToken({ audience: ORDERS });
    expect(decodeJwt(token.accessToken)).toMatchObject({ sub: BILLING_SA, client_id: "workers" });
    expect(Object.fromEntries(sent[0] ?? [])).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion: expect.any(String),
      resource: ORDERS,
      client_id: "workers",
    });
    await client.close();
  });

  it("token-exchange of the platform token; two subjects never share a token", async () => {
    const [a, b] = [newFile(), newFile()];
    a.write(await serviceAccountToken(ORDERS_SA));
    b.write(await serviceAccountToken(BILLING_SA));
    const grant = (file: TokenFile) =>
      ({
        type: "token-exchange",
        subjectToken: fileAssertion(file.path),
        subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
      }) as const;
    const store = createRedisTokenStore({
      redis,
      keyPrefix: "dev-grant:",
      encryptionKey: "dev-workload-key-0123456789abcdef",
    });
    stores.push(store);
    const orders = worker({ grant: grant(a), store });
    const billing = worker({ grant: grant(b), store });
    sent.length = 0;
    const ordersToken = await orders.getToken({ audience: ORDERS });
    const billingToken = await billing.getToken({ audience: ORDERS });
    expect(decodeJwt(ordersToken.accessToken).sub).toBe(ORDERS_SA);
    expect(decodeJwt(billingToken.accessToken).sub).toBe(BILLING_SA);
    expect(sent.map((body) => body.get("subject_token_type"))).toEqual([
      "urn:ietf:params:oauth:token-type:jwt",
      "urn:ietf:params:oauth:token-type:jwt",
    ]);
    for (const client of [orders, billing]) await client.close();
  });
});
