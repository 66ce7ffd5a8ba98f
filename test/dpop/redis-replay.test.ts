/**
 * Two API servers, each with its own verifier and its own Redis connection, share one replay store
 * (createRedisReplayStore on a real redis-server): a proof accepted by one is refused by the other.
 */
import { createServer, request as httpRequest } from "node:http";
import express from "express";
import { exportJWK, generateKeyPair } from "jose";
import { createClient } from "redis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { ClientCredentialsClient, createDpopProof, createVerifier, importDpopKey } from "../../src/index.js";
import { createRedisReplayStore } from "../../src/redis/index.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
let provider: RunningProvider;
let redis: RedisServer;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  [provider, redis] = await Promise.all([startProvider(), startRedis()]);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all([provider?.close(), redis?.stop()]);
});

async function apiServer() {
  const connection = createClient({ url: redis.url });
  await connection.connect();
  closers.push(() => connection.quit());
  const verifier = createVerifier({
    issuer: provider.issuer,
    audience: API,
    dpop: { replayStore: createRedisReplayStore({ redis: connection, keyPrefix: "dpop:" }) },
  });
  const app = express();
  app.get("/data", requireAuth(verifier), (req, res) => {
    res.json({ client: req.auth?.clientId });
  });
  const server = await listen(createServer(app));
  closers.push(server.close);
  return server;
}

it("a proof replayed to a second API server sharing the Redis replay store is refused", async () => {
  const [one, two] = await Promise.all([apiServer(), apiServer()]);
  const privateKey = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey);
  const key = await importDpopKey(privateKey);
  const client = new ClientCredentialsClient({
    issuer: provider.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
    defaultAudience: API,
    dpop: { privateKey },
  });
  const token = await client.getToken();
  // Both servers sit behind one name in a fleet; the proof names the URL the client called.
  const url = `${one.url}/data`;
  const proof = await createDpopProof(key, { method: "GET", url, accessToken: token.accessToken });
  const headers = { authorization: token.authorization, dpop: proof };
  expect((await fetch(url, { headers })).status).toBe(200);
  // fetch cannot set Host: node:http can, as a load balancer in front of both would.
  const replayed = await new Promise<{ status: number; challenge: string; body: string }>(
    (resolve, reject) => {
      const req = httpRequest(
        `${two.url}/data`,
        { headers: { ...headers, host: new URL(one.url).host } },
        (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => {
            body += chunk.toString("utf8");
          });
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              challenge: String(res.headers["www-authenticate"]),
              body,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    },
  );
  expect(replayed.status).toBe(401);
  expect(replayed.challenge).toContain('error="invalid_dpop_proof"');
  expect(JSON.parse(replayed.body)).toMatchObject({
    error_description: "the DPoP proof has been used before",
  });
});
