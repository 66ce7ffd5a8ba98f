/**
 * Memory is bounded by configuration: everything the client keeps per key (store, audience index,
 * back-offs, failed keys, refresh pauses) follows `cacheMaxEntries`. Measured as heap after a real
 * garbage collection, not as time.
 */

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type Started, startProcess } from "../support/process.js";

// The token endpoint runs in its own process: its memory stays out of the figure, and it answers
// on the other core.
const TOKEN_SERVER = `
const { createServer } = require("node:http");
const body = JSON.stringify({ access_token: "memory-token", token_type: "Bearer", expires_in: 3600 });
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => console.log("listening on " + server.address().port));
`;

let server: Started;
let tokenEndpoint: string;
beforeAll(async () => {
  server = await startProcess(process.execPath, ["-e", TOKEN_SERVER], { ready: /listening on (\d+)/ });
  tokenEndpoint = `http://127.0.0.1:${server.match[1]}/oauth/token`;
});
afterAll(() => server.stop());

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it("30 000 distinct audiences through a client bounded at 100 entries grow the heap by less than 8 MB", async () => {
  const client = new ClientCredentialsClient({
    tokenEndpoint,
    clientId: "memory-client",
    clientSecret: "memory-secret",
    clock: new ManualClock(),
    cacheMaxEntries: 100,
  });
  let next = 0;
  const run = async (count: number) => {
    const end = next + count;
    while (next < end) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 50 && next < end; i++, next++) {
        // Long, distinct audiences and two scopes: what a multi-tenant service sees.
        batch.push(
          client.getToken({
            audience: `https://tenant-${next}.api.example.com/v1`,
            scope: ["read", "write"],
          }),
        );
      }
      await Promise.all(batch);
    }
  };
  // Warm up: caches full, code compiled, connections open.
  await run(1_000);
  const cpu = process.cpuUsage();
  const before = heapAfterGc();
  await run(30_000);
  const grown = heapAfterGc() - before;
  const used = process.cpuUsage(cpu);
  console.log(
    `client memory: 30000 audiences, heap ${(grown / 1e6).toFixed(2)} MB, cpu ${((used.user + used.system) / 1e6).toFixed(1)} s`,
  );
  expect(next).toBe(31_000);
  expect(grown).toBeLessThan(8 * 1024 * 1024);
  // Still a working cache.
  expect(
    (await client.getToken({ audience: "https://tenant-30999.api.example.com/v1", scope: ["read", "write"] }))
      .accessToken,
  ).toBe("memory-token");
  await client.close();
}, 180_000);
