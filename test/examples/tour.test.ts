/**
 * The 5-minute tour (docs/local-development.md) and the examples' READMEs, as written: `m2m dev
 * --config demo/m2m.dev.json`, an example API started with ISSUER, a token from `m2m token` for the
 * demo's example app, a call to the API with it, and the cli-script example against both. Ports are
 * free ones instead of 4000 and 3000.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Started, startProcess } from "../support/process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const tsx = join(root, "node_modules/.bin/tsx");
const SECRET = "example-secret-only-for-local-use";
let dev: Started;
let api: Started;
let issuer: string;
let apiUrl: string;

beforeAll(async () => {
  dev = await startProcess(
    process.execPath,
    ["dist/cli/bin.js", "dev", "--config", "demo/m2m.dev.json", "--port", "0"],
    { cwd: root, timeoutMs: 100_000, ready: /issuer:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*ready/ },
  );
  issuer = dev.match[1] as string;
  api = await startProcess(tsx, ["--tsconfig", "examples/tsconfig.json", "examples/express-api/server.ts"], {
    cwd: root,
    env: { ISSUER: issuer, PORT: "0" },
    ready: /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    timeoutMs: 100_000,
  });
  apiUrl = api.match[1] as string;
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await dev?.stop();
});

it("the 5-minute tour calls a protected example API with a token from m2m token", async () => {
  const guide = await readFile(join(root, "docs/local-development.md"), "utf8");
  const tour = guide.slice(guide.indexOf("## The 5-minute tour"), guide.indexOf("## The dev server"));
  expect(tour).toContain("npm run m2m -- dev --config demo/m2m.dev.json --port 4000");
  expect(tour).toContain("ISSUER=http://127.0.0.1:4000 PORT=3000 npx tsx examples/express-api/server.ts");
  expect(tour).toContain("--client-id example-client");
  expect(tour).toContain(
    'curl -s -H "Authorization: Bearer $(cat token.txt)" http://127.0.0.1:3000/api/data',
  );

  const { stdout } = await run(
    process.execPath,
    [
      "dist/cli/bin.js",
      "token",
      "--issuer",
      issuer,
      "--client-id",
      "example-client",
      "--client-secret-env",
      "SECRET",
      "--audience",
      "https://api.example.com",
    ],
    { cwd: root, env: { ...process.env, SECRET } },
  );
  const token = stdout.trim();
  const res = await fetch(`${apiUrl}/api/data`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ client: "example-client", scopes: ["read:data"] });
  const post = await fetch(`${apiUrl}/api/data`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  expect(post.status).toBe(403);
}, 120_000);

it("examples/cli-script runs against it as its README says", async () => {
  const { stdout } = await run(
    tsx,
    ["--tsconfig", "examples/tsconfig.json", "examples/cli-script/index.ts"],
    {
      cwd: root,
      env: {
        ...process.env,
        ISSUER: issuer,
        CLIENT_ID: "example-client",
        CLIENT_SECRET: SECRET,
        AUDIENCE: "https://api.example.com",
        API_URL: `${apiUrl}/api/data`,
      },
    },
  );
  expect(stdout).toContain("got a Bearer token for https://api.example.com, scopes [read:data]");
  expect(stdout).toContain('200 {"client":"example-client","scopes":["read:data"]}');
}, 120_000);
