/**
 * API throughput with authentication, in one run: bare Express / Fastify / Hono (on Node) against the
 * same app protected by m2m-kit, plus express-oauth2-jwt-bearer and @fastify/jwt. An M2M API sees a
 * client send one token for its whole lifetime, so every request carries the same RS256 token.
 * autocannon, 127.0.0.1, -c 50; each server runs in its own process.
 *
 * The machine's noise is larger than an adapter's cost, so the run is made of rounds: in each round
 * every framework's bare server is measured and then, back to back, each protected one; a ratio is
 * "protected ÷ bare of the same round", and the table gives the median over the rounds.
 *
 *   npm run bench:http   env BENCH_HTTP_ROUNDS (7), BENCH_HTTP_SECONDS (5 per measurement),
 *                        BENCH_HTTP_ONLY (comma-separated scenarios), BENCH_HTTP_PROFILE (a folder:
 *                        a CPU profile of each server's last measured period is written there)
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus } from "node:os";
import autocannon from "autocannon";

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 7);
const PROFILE = process.env.BENCH_HTTP_PROFILE;
if (PROFILE !== undefined) mkdirSync(PROFILE, { recursive: true });
const AUDIENCE = "https://api.example.com";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
const jwksServer = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
});
await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/`;
const jwksUri = `${issuer}jwks`;

const now = Math.floor(Date.now() / 1000);
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const input = `${segment({ alg: "RS256", kid: "k1", typ: "JWT" })}.${segment({
  iss: issuer,
  aud: AUDIENCE,
  sub: "svc@clients",
  client_id: "svc",
  scope: "read:data",
  iat: now,
  exp: now + 3600,
})}`;
const token = `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;

const SCENARIOS = process.env.BENCH_HTTP_ONLY
  ? process.env.BENCH_HTTP_ONLY.split(",")
  : [
      "express:none",
      "express:m2m-kit",
      "express:express-oauth2-jwt-bearer",
      "fastify:none",
      "fastify:m2m-kit",
      "fastify:@fastify/jwt",
      "fastify:@fastify/jwt (cache on)",
      "hono:none",
      "hono:m2m-kit",
    ];

async function measure(scenario: string): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/http-server.ts", scenario], {
    env: {
      ...process.env,
      ISSUER: issuer,
      JWKS_URI: jwksUri,
      PUBLIC_PEM: publicKey.export({ format: "pem", type: "spki" }) as string,
      TSX_TSCONFIG_PATH: "bench/tsconfig.json",
      ...(PROFILE === undefined ? {} : { BENCH_HTTP_PROFILE: PROFILE }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      const match = /ready (\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`${scenario} exited with ${code}`)));
  });
  try {
    const url = `http://127.0.0.1:${port}/data`;
    const headers: Record<string, string> = scenario.endsWith(":none")
      ? {}
      : { authorization: `Bearer ${token}` };
    const check = await fetch(url, { headers });
    if (check.status !== 200) throw new Error(`${scenario}: answered ${check.status}`);
    await autocannon({ url, connections: 50, duration: 2, headers }); // warm-up
    if (PROFILE !== undefined) child.kill("SIGUSR2");
    const result = await autocannon({ url, connections: 50, duration: SECONDS, headers });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${scenario}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.average;
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill();
    await exited;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const frameworks = [...new Set(SCENARIOS.map((scenario) => scenario.split(":")[0] as string))];
const rates = new Map<string, number[]>(SCENARIOS.map((scenario) => [scenario, []]));
const ratios = new Map<string, number[]>(SCENARIOS.map((scenario) => [scenario, []]));
for (let round = 1; round <= ROUNDS; round++) {
  process.stdout.write(`round ${round}/${ROUNDS}\n`);
  for (const framework of frameworks) {
    const bare = `${framework}:none`;
    const own = SCENARIOS.filter((scenario) => scenario.startsWith(`${framework}:`));
    const bareRate = own.includes(bare) ? await measure(bare) : Number.NaN;
    for (const scenario of own) {
      const rate = scenario === bare ? bareRate : await measure(scenario);
      rates.get(scenario)?.push(rate);
      ratios.get(scenario)?.push(rate / bareRate);
      process.stdout.write(
        `  ${scenario}: ${Math.round(rate)} req/s, ${(rate / bareRate).toFixed(2)} × bare\n`,
      );
    }
  }
}
jwksServer.close();

const fixed = (value: number) => (Number.isNaN(value) ? "–" : value.toFixed(2));
process.stdout.write(
  `\nNode ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; autocannon -c 50 -d ${SECONDS}, same RS256 token; ${ROUNDS} rounds\n\n`,
);
process.stdout.write(
  "| framework | authentication | req/s (median) | × bare (median of rounds) | × bare (lowest–highest) |\n|---|---|---:|---:|---:|\n",
);
for (const scenario of SCENARIOS) {
  const [framework, protect] = scenario.split(":") as [string, string];
  const each = ratios.get(scenario) ?? [];
  process.stdout.write(
    `| ${framework} | ${protect === "none" ? "none (bare)" : protect} | ${Math.round(median(rates.get(scenario) ?? [])).toLocaleString("en-US")} | ${fixed(median(each))} | ${fixed(Math.min(...each))}–${fixed(Math.max(...each))} |\n`,
  );
}
