/**
 * Two API processes (child processes on the built package), each with its own verifier and its own
 * Redis connection, share one replay store (createRedisReplayStore on a real redis-server): a proof
 * accepted by one is refused by the other.
 */
import { request as httpRequest } from "node:http";
import { join, resolve } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ClientCredentialsClient, createDpopProof, importDpopKey } from "../../src/index.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type Started, startProcess } from "../support/process.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const SCRIPT = join(resolve(import.meta.dirname), "replay-api.mjs");
let provider: RunningProvider;
let redis: RedisServer;
const apis: Started[] = [];

beforeAll(async () => {
  [provider, redis] = await Promise.all([startProvider(), startRedis()]);
});
afterAll(async () => {
  await Promise.all(apis.map((api) => api.stop()));
  await Promise.all([provider?.close(), redis?.stop()]);
});

async function apiProcess(): Promise<{ url: string; pid: number }> {
  const started = await startProcess(process.execPath, [SCRIPT, provider.issuer, API, redis.url], {
    ready: /listening (http:\/\/127\.0\.0\.1:\d+)/,
  });
  apis.push(started);
  return { url: started.match[1] as string, pid: started.child.pid as number };
}

it("a proof replayed to a second API process sharing the Redis replay store is refused", async () => {
  const [one, two] = await Promise.all([apiProcess(), apiProcess()]);
  expect(one.pid).not.toBe(two.pid);
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
  const first = await fetch(url, { headers });
  expect(first.status).toBe(200);
  expect(await first.json()).toMatchObject({ client: "basic-client", pid: one.pid });
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
