import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Started, startProcess } from "../support/process.js";

const root = resolve(import.meta.dirname, "../..");
const tsx = join(root, "node_modules/.bin/tsx");
let platform: Started;
let env: Record<string, string>;

beforeAll(async () => {
  platform = await startProcess(
    tsx,
    ["--tsconfig", "examples/tsconfig.json", "examples/workload-identity/platform.ts"],
    { cwd: root, env: { ROTATE_MS: "30" }, ready: /platform ready/, timeoutMs: 100_000 },
  );
  env = Object.fromEntries(
    [...platform.output().matchAll(/^([A-Z_]+)=(.+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}, 120_000);
afterAll(async () => {
  await platform?.stop();
});

it("examples/workload-identity: the service calls the API with no secret in its environment, one token across file rotations", async () => {
  expect(Object.keys(env).sort()).toEqual(["API_URL", "AUDIENCE", "CLIENT_ID", "ISSUER", "TOKEN_FILE"]);
  const rotatedBefore = platform.output().match(/token file rotated/g)?.length ?? 0;
  const service = await startProcess(
    tsx,
    ["--tsconfig", "examples/tsconfig.json", "examples/workload-identity/service.ts"],
    { cwd: root, env: { ...env, INTERVAL_MS: "60", MAX_CALLS: "5" }, ready: /stopped/, timeoutMs: 100_000 },
  );
  const output = service.output();
  expect(output).toContain(`workload identity: token file ${env.TOKEN_FILE} (the tokenFile option)`);
  expect(output.match(/call \d: 200 \{"client":"orders-worker","orders":\[\]\}/g)).toHaveLength(5);
  expect(output.match(/token fetched/g)).toHaveLength(1);
  // The kubelet rewrote the file while the service ran; the cached token was kept.
  expect(platform.output().match(/token file rotated/g)?.length ?? 0).toBeGreaterThan(rotatedBefore);
  expect(output).not.toMatch(/eyJ[\w-]+\.eyJ/);
  await service.stop();
}, 120_000);
