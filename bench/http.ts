/**
 * API throughput with authentication, in one run: bare Express / Fastify / Hono (on Node) against the
 * same app protected by m2m-kit, plus express-oauth2-jwt-bearer and @fastify/jwt. An M2M API sees a
 * client send one token for its whole lifetime, so every request carries the same RS256 token.
 * autocannon, 127.0.0.1, -c 50; each server runs in its own process.
 *
 *   npm run bench:http      (BENCH_HTTP_SECONDS=10 by default)
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus } from "node:os";
import autocannon from "autocannon";

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
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
    const result = await autocannon({ url, connections: 50, duration: SECONDS, headers });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${scenario}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.average;
  } finally {
    child.kill();
  }
}

const results = new Map<string, number>();
for (const scenario of SCENARIOS) {
  results.set(scenario, await measure(scenario));
  process.stdout.write(`  ${scenario}: ${Math.round(results.get(scenario) ?? 0)} req/s\n`);
}
jwksServer.close();

process.stdout.write(
  `\nNode ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; autocannon -c 50 -d ${SECONDS}, same RS256 token\n\n`,
);
process.stdout.write("| framework | authentication | req/s | × bare |\n|---|---|---:|---:|\n");
for (const scenario of SCENARIOS) {
  const [framework, protect] = scenario.split(":") as [string, string];
  const bare = results.get(`${framework}:none`) ?? Number.NaN;
  const value = results.get(scenario) ?? Number.NaN;
  process.stdout.write(
    `| ${framework} | ${protect === "none" ? "none (bare)" : protect} | ${Math.round(value).toLocaleString("en-US")} | ${(value / bare).toFixed(2)} |\n`,
  );
}
