/**
 * Access-token verification speed, one call at a time, in one process and one run: the node:crypto
 * floor, m2m-kit (the built package), jose, fast-jwt, aws-jwt-verify and jsonwebtoken, for RS256,
 * PS256, ES256 and EdDSA; with distinct tokens (a pool larger than any cache) and with one repeated
 * token. Measured with mitata (median time per call, best of several rounds); prints ops/s and
 * each figure as a ratio to the floor (time per call ÷ the floor's). Then, in the same run:
 * instrumentation cost (`m2m-kit/otel` on vs off, bench/instrumentation.ts), DPoP requests next
 * to Bearer and to express-oauth2-jwt-bearer (bench/dpop.ts), and a cold isolate's first
 * verification with and without a shared key store (bench/jwks-store.ts).
 *
 *   npm run bench     (BENCH_ALGS=RS256,ES256 BENCH_TIME_MS=700 BENCH_ROUNDS=3 BENCH_POOL=10500
 *                      BENCH_PARTS=verify,otel,dpop,store to change)
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { arch, cpus, platform } from "node:os";
import { JwtVerifier } from "aws-jwt-verify";
import { createVerifier as createFastJwtVerifier } from "fast-jwt";
import { importJWK, jwtVerify } from "jose";
import jsonwebtoken from "jsonwebtoken";
import { measure } from "mitata";
import { createVerifier } from "../dist/index.js";
import { benchDpop, printDpop } from "./dpop.js";
import { benchInstrumentation, printInstrumentation } from "./instrumentation.js";
import { benchStore, printStore } from "./jwks-store.js";

const ALGS = (process.env.BENCH_ALGS?.split(",") ?? ["RS256", "PS256", "ES256", "EdDSA"]) as readonly (
  | "RS256"
  | "PS256"
  | "ES256"
  | "EdDSA"
)[];
type Alg = (typeof ALGS)[number];
const POOL = Number(process.env.BENCH_POOL ?? 10_500); // > m2m-kit's 10 000-entry verified-token cache
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTS = new Set(process.env.BENCH_PARTS?.split(",") ?? ["verify", "otel", "dpop", "store"]);
const ISSUER = "https://issuer.example.com/";
const AUDIENCE = "https://api.example.com";

interface Fixture {
  alg: Alg;
  kid: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
  tokens: string[];
  parts: Array<{ data: Buffer; signature: Buffer }>;
}

const HASH: Record<Alg, string | null> = { RS256: "sha256", PS256: "sha256", ES256: "sha256", EdDSA: null };

function keyOptions(alg: Alg, key: KeyObject) {
  if (alg === "PS256") return { key, padding: 6, saltLength: -1 }; // RSA_PKCS1_PSS_PADDING, SALTLEN_DIGEST
  if (alg === "ES256") return { key, dsaEncoding: "ieee-p1363" as const };
  return key;
}

function makeFixture(alg: Alg): Fixture {
  const pair =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "EdDSA"
        ? generateKeyPairSync("ed25519")
        : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = `${alg}-key`;
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
  const header = Buffer.from(JSON.stringify({ alg, kid, typ: "at+jwt" })).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  const parts: Fixture["parts"] = [];
  for (let i = 0; i < POOL; i++) {
    const payload = Buffer.from(
      JSON.stringify({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: "svc@clients",
        client_id: "svc",
        scope: "read:data write:data",
        iat: now,
        exp: now + 3600,
        jti: `t-${i}`,
      }),
    ).toString("base64url");
    const data = Buffer.from(`${header}.${payload}`);
    const signature = sign(HASH[alg], data, keyOptions(alg, pair.privateKey) as never);
    tokens.push(`${header}.${payload}.${signature.toString("base64url")}`);
    parts.push({ data, signature });
  }
  return {
    alg,
    kid,
    publicKey: createPublicKey(pair.publicKey.export({ format: "pem", type: "spki" })),
    privateKey: pair.privateKey,
    jwk,
    tokens,
    parts,
  };
}

async function serveJwks(fixtures: Fixture[]): Promise<{ url: string; close: () => void }> {
  const body = JSON.stringify({ keys: fixtures.map((f) => f.jwk) });
  const server = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "application/json", connection: "close" }).end(body),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    close: () => server.close(),
  };
}

type Task = () => unknown;

async function main() {
  // The store part makes its own key and token.
  const needsFixtures = ["verify", "otel", "dpop"].some((part) => PARTS.has(part));
  if (needsFixtures) process.stdout.write(`generating ${POOL} tokens per algorithm…\n`);
  const fixtures = needsFixtures ? ALGS.map(makeFixture) : [];
  const jwks = await serveJwks(fixtures);

  const m2m = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: jwks.url,
    allowInsecureHttp: true,
  });
  const m2mNoCache = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: jwks.url,
    allowInsecureHttp: true,
    verifiedTokenCache: false,
  });
  await m2m.warmUp();
  await m2mNoCache.warmUp();
  const aws = JwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUri: jwks.url });
  aws.cacheJwks({ keys: fixtures.map((f) => f.jwk) } as never);

  const rows: Array<{ scenario: string; alg: Alg; name: string; hz: number }> = [];
  for (const f of PARTS.has("verify") ? fixtures : []) {
    const pem = f.publicKey.export({ format: "pem", type: "spki" }) as string;
    const joseKey = await importJWK(f.jwk, f.alg);
    const fastNoCache = createFastJwtVerifier({
      key: pem,
      algorithms: [f.alg],
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
    });
    const fastCache = createFastJwtVerifier({
      key: pem,
      algorithms: [f.alg],
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
      cache: true,
    });
    const keyInput = keyOptions(f.alg, f.publicKey) as never;
    const hash = HASH[f.alg];
    // Warm each verifier's key import so that no task pays a one-off cost.
    await m2m.verify(f.tokens[0] as string);
    await m2mNoCache.verify(f.tokens[0] as string);

    // Each task walks the pool with its own cursor, so no task finds tokens another one warmed.
    const cursor = () => {
      let i = 0;
      return () => {
        i = (i + 1) % POOL;
        return i;
      };
    };
    const [c1, c2, c3, c4, c5, c6, c7, c8] = Array.from({ length: 8 }, cursor) as Array<() => number>;
    const distinct: Record<string, Task | null> = {
      "node:crypto verify (floor)": () => {
        const p = f.parts[c1()] as Fixture["parts"][number];
        if (!verify(hash, p.data, keyInput, p.signature)) throw new Error("floor failed");
      },
      "m2m-kit": () => m2m.verify(f.tokens[c2()] as string),
      "m2m-kit (verified cache off)": () => m2mNoCache.verify(f.tokens[c3()] as string),
      "fast-jwt (cache off)": () => fastNoCache(f.tokens[c4()] as string),
      "fast-jwt (cache on)": () => fastCache(f.tokens[c5()] as string),
      "aws-jwt-verify": f.alg === "PS256" ? null : () => aws.verifySync(f.tokens[c6()] as string),
      "jsonwebtoken (KeyObject)":
        f.alg === "EdDSA"
          ? null // jsonwebtoken has no EdDSA
          : () =>
              jsonwebtoken.verify(f.tokens[c7()] as string, f.publicKey, {
                algorithms: [f.alg as "RS256"],
                issuer: ISSUER,
                audience: AUDIENCE,
              }),
      "jose jwtVerify (WebCrypto)": () =>
        jwtVerify(f.tokens[c8()] as string, joseKey, { issuer: ISSUER, audience: AUDIENCE }),
    };
    const one = f.tokens[0] as string;
    const repeated: Record<string, Task> = {
      "m2m-kit": () => m2m.verify(one),
      "fast-jwt (cache on)": () => fastCache(one),
    };

    for (const [scenario, tasks] of [
      ["distinct tokens", distinct],
      ["repeated token", repeated],
    ] as const) {
      // Best of ROUNDS medians per task, with the task order rotated each round, so that a noisy
      // moment on a shared machine or a task's position does not decide a ratio.
      const best = new Map<string, number>();
      const order = Object.entries(tasks).filter((entry): entry is [string, Task] => entry[1] !== null);
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < order.length; k++) {
          const [name, fn] = order[(k + round) % order.length] as [string, Task];
          const stats = await measure(fn, { min_cpu_time: TIME_MS * 1e6 });
          best.set(name, Math.max(best.get(name) ?? 0, 1e9 / stats.p50));
        }
      }
      for (const [name, hz] of best) rows.push({ scenario, alg: f.alg, name, hz });
      process.stdout.write(`  ${f.alg} ${scenario}: done\n`);
    }
  }
  const otel = PARTS.has("otel")
    ? await benchInstrumentation(fixtures, {
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUri: jwks.url,
        timeMs: TIME_MS,
        rounds: ROUNDS,
      })
    : [];
  const dpop = PARTS.has("dpop")
    ? await benchDpop(fixtures, {
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUri: jwks.url,
        timeMs: TIME_MS,
        rounds: ROUNDS,
      })
    : [];
  jwks.close();
  const store = PARTS.has("store") ? await benchStore() : [];
  print(rows);
  if (otel.length > 0) printInstrumentation(otel);
  if (dpop.length > 0) printDpop(dpop);
  if (store.length > 0) printStore(store);
}

function print(rows: Array<{ scenario: string; alg: Alg; name: string; hz: number }>) {
  const floor = (alg: Alg) => rows.find((r) => r.alg === alg && r.name.includes("floor"))?.hz ?? Number.NaN;
  const fast = (scenario: string, alg: Alg, name: string) =>
    rows.find((r) => r.scenario === scenario && r.alg === alg && r.name === name)?.hz ?? Number.NaN;
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  process.stdout.write(
    `\nNode ${process.version}, ${platform()} ${arch()}, ${cpus().length} × ${cpu}; one call at a time; pool ${POOL} tokens\n`,
  );
  for (const scenario of rows.length === 0 ? [] : ["distinct tokens", "repeated token"]) {
    process.stdout.write(
      `\n### ${scenario}\n\n| alg | library | ops/s | × floor (time) | vs fast-jwt |\n|---|---|---:|---:|---:|\n`,
    );
    for (const r of rows.filter((x) => x.scenario === scenario)) {
      const peer = fast(
        scenario,
        r.alg,
        scenario === "repeated token" ? "fast-jwt (cache on)" : "fast-jwt (cache off)",
      );
      process.stdout.write(
        `| ${r.alg} | ${r.name} | ${Math.round(r.hz).toLocaleString("en-US")} | ${(floor(r.alg) / r.hz).toFixed(2)} | ${(r.hz / peer).toFixed(2)} |\n`,
      );
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
