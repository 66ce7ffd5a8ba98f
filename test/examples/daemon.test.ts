import { execFile } from "node:child_process";
import { createServer as createNetServer } from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { createVerifier } from "../../src/index.js";
import { authenticate } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { startProcess } from "../support/process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
let dev: DevServer;
let api: Awaited<ReturnType<typeof serveFetch>>;
let apiCalls = 0;

beforeAll(async () => {
  dev = await startDevServer({ configPath: join(root, "demo/m2m.dev.json"), keysPath: false });
  const verifier = createVerifier({ issuer: dev.issuer, audience: "https://orders.example.com" });
  api = await serveFetch(async (request) => {
    apiCalls++;
    const auth = await authenticate(request, verifier, { requiredScopes: ["read:orders"] });
    return auth instanceof Response ? auth : Response.json({ client: auth?.clientId });
  });
});
afterAll(async () => {
  await api.close();
  await dev.close();
});

it("examples/daemon calls the API on an interval with one cached token, and stops", async () => {
  const daemon = await startProcess(
    join(root, "node_modules/.bin/tsx"),
    ["--tsconfig", "examples/tsconfig.json", "examples/daemon/index.ts"],
    {
      cwd: root,
      env: {
        ISSUER: dev.issuer,
        CLIENT_ID: "report-job",
        CLIENT_SECRET: "demo-secret-only-for-local-use",
        AUDIENCE: "https://orders.example.com",
        API_URL: `${api.url}/orders`,
        INTERVAL_MS: "20",
        MAX_CALLS: "5",
      },
      ready: /stopped/,
      timeoutMs: 100_000,
    },
  );
  const output = daemon.output();
  expect(output.match(/call \d: 200 \{"client":"report-job"\}/g)).toHaveLength(5);
  expect(output.match(/token fetched/g)).toHaveLength(1);
  expect(dev.tokenRequests).toBe(1);
  expect(apiCalls).toBe(5);
  expect(output).not.toContain("demo-secret-only-for-local-use");
  await daemon.stop();
}, 120_000);

it("examples/daemon with MAX_CALLS stops after that many attempts when every call fails", async () => {
  const closed = await new Promise<number>((done) => {
    const server = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
  const daemon = await startProcess(
    join(root, "node_modules/.bin/tsx"),
    ["--tsconfig", "examples/tsconfig.json", "examples/daemon/index.ts"],
    {
      cwd: root,
      env: {
        ISSUER: dev.issuer,
        CLIENT_ID: "report-job",
        CLIENT_SECRET: "demo-secret-only-for-local-use",
        AUDIENCE: "https://orders.example.com",
        API_URL: `http://127.0.0.1:${closed}/orders`,
        INTERVAL_MS: "10",
        MAX_CALLS: "3",
      },
      ready: /stopped/,
      timeoutMs: 100_000,
    },
  );
  expect(daemon.output().match(/call \d failed/g)).toHaveLength(3);
  await daemon.stop();
}, 120_000);

it("examples/daemon with a wrong audience does not request a token per tick", async () => {
  const before = dev.tokenRequests;
  apiCalls = 0;
  const daemon = await startProcess(
    join(root, "node_modules/.bin/tsx"),
    ["--tsconfig", "examples/tsconfig.json", "examples/daemon/index.ts"],
    {
      cwd: root,
      env: {
        ISSUER: dev.issuer,
        CLIENT_ID: "report-job",
        CLIENT_SECRET: "demo-secret-only-for-local-use",
        // A token for the billing API, sent to the orders API: refused on every call.
        AUDIENCE: "https://billing.example.com",
        API_URL: `${api.url}/orders`,
        INTERVAL_MS: "20",
        MAX_CALLS: "8",
      },
      ready: /stopped/,
    },
  );
  const output = daemon.output();
  expect(output.match(/call \d: 401/g)).toHaveLength(8);
  // The first call is sent with the token and with its one replacement; then the key backs off.
  expect(apiCalls).toBe(9);
  expect(dev.tokenRequests - before).toBe(2);
  expect(output).toMatch(/the API refused the replacement token too/);
  await daemon.stop();
});

it("examples/testing/api.node-test.mjs passes under node:test", async () => {
  const { stdout } = await run(
    process.execPath,
    ["--test", "--test-reporter=tap", "examples/testing/api.node-test.mjs"],
    {
      cwd: root,
    },
  );
  expect(stdout).toMatch(/# pass 2/);
  expect(stdout).toMatch(/# fail 0/);
});
