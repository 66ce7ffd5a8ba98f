/**
 * A cold isolate's first verification, with and without a shared key store (`jwks: { store }`):
 * a verifier made from nothing (as in a new Worker isolate or a new process) verifies one token,
 * timed from `createVerifier` to the verified result, with the requests it made counted at the key
 * server. The key server (discovery and JWKS on 127.0.0.1) answers each request after an added
 * delay (`BENCH_STORE_LATENCY_MS`, default 50 ms), as an identity provider across the internet does.
 * Rows: no store; an empty store (the first isolate: it fetches, then writes in the background); a
 * warm store in the process (a `Map`); a warm store that answers each read after
 * `BENCH_STORE_READ_MS` (default 5 ms, a network key-value store such as Workers KV or Redis).
 * Imported by bench/verify.ts.
 *
 *   BENCH_PARTS=store npm run bench   (BENCH_STORE_RUNS=30 BENCH_STORE_LATENCY_MS=50 BENCH_STORE_READ_MS=5)
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createVerifier, type KeyValueStore } from "../dist/index.js";

const RUNS = Number(process.env.BENCH_STORE_RUNS ?? 30);
const LATENCY_MS = Number(process.env.BENCH_STORE_LATENCY_MS ?? 50);
const READ_MS = Number(process.env.BENCH_STORE_READ_MS ?? 5);
const AUDIENCE = "https://api.example.com";
const INTEGRITY_KEY = "bench-integrity-key-0123456789abcdefghij";

export interface StoreRow {
  name: string;
  /** Requests (discovery + JWKS) per first verification, over every run. */
  requests: number[];
  /** Time to the first verification, ms, per run. */
  ms: number[];
}

interface KeyServer {
  issuer: string;
  requests: number;
  close(): void;
}

async function startKeyServer(jwk: Record<string, unknown>): Promise<KeyServer> {
  const state = { issuer: "", requests: 0, close: () => {} };
  const server = createServer((req, res) => {
    state.requests++;
    setTimeout(() => {
      if (req.url === "/.well-known/openid-configuration") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ issuer: state.issuer, jwks_uri: `${state.issuer}/jwks` }));
      } else if (req.url === "/jwks") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
      } else {
        res.writeHead(404).end();
      }
    }, LATENCY_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => server.close();
  return state;
}

function mapStore(readMs = 0): KeyValueStore & { size(): number } {
  const map = new Map<string, string>();
  return {
    get: (key) =>
      readMs === 0 ? map.get(key) : new Promise((resolve) => setTimeout(() => resolve(map.get(key)), readMs)),
    set: (key, value) => {
      map.set(key, value);
    },
    size: () => map.size,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
const quantile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))] as number;

export async function benchStore(): Promise<StoreRow[]> {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
  const ks = await startKeyServer(jwk);
  const now = Math.floor(Date.now() / 1000);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${b64({ alg: "RS256", kid: "k1", typ: "at+jwt" })}.${b64({
    iss: ks.issuer,
    aud: AUDIENCE,
    sub: "svc@clients",
    client_id: "svc",
    scope: "read:data",
    iat: now,
    exp: now + 3600,
  })}`;
  const token = `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;

  /** One cold verifier's first verification: its time and the requests it made. */
  const cold = async (store: KeyValueStore | undefined): Promise<[ms: number, requests: number]> => {
    const before = ks.requests;
    const started = performance.now();
    const verifier = createVerifier({
      issuer: ks.issuer,
      audience: AUDIENCE,
      ...(store && { jwks: { store, integrityKey: INTEGRITY_KEY } }),
    });
    await verifier.verify(token);
    return [performance.now() - started, ks.requests - before];
  };

  const warm = mapStore();
  const warmRemote = mapStore(READ_MS);
  for (const store of [warm, warmRemote]) {
    await cold(store);
    for (let i = 0; i < 100 && store.size() < 2; i++) await new Promise((r) => setTimeout(r, 10));
  }
  const scenarios: Array<[string, () => KeyValueStore | undefined]> = [
    ["no store", () => undefined],
    ["empty store (the first isolate)", () => mapStore()],
    ["warm store in the process (Map)", () => warm],
    [`warm store answering in ${READ_MS} ms`, () => warmRemote],
  ];
  const rows: StoreRow[] = scenarios.map(([name]) => ({ name, requests: [], ms: [] }));
  // Interleaved, run by run, so that the machine's load meets every scenario alike.
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [, store]] of scenarios.entries()) {
      const [ms, requests] = await cold(store());
      rows[i]?.ms.push(ms);
      rows[i]?.requests.push(requests);
    }
  }
  ks.close();
  process.stdout.write("  cold isolates: done\n");
  return rows;
}

export function printStore(rows: StoreRow[]): void {
  process.stdout.write(
    `\n### Cold isolate: first verification with and without a shared key store\n\n` +
      `Key server on 127.0.0.1 answering each request after ${LATENCY_MS} ms; ${RUNS} cold verifiers per row, interleaved.\n\n` +
      "| verifier | requests (discovery + JWKS) | median ms | p90 ms | min ms | max ms |\n|---|---:|---:|---:|---:|---:|\n",
  );
  for (const row of rows) {
    const requests = [...new Set(row.requests)].sort((a, b) => a - b).join("–");
    process.stdout.write(
      `| ${row.name} | ${requests} | ${median(row.ms).toFixed(1)} | ${quantile(row.ms, 0.9).toFixed(1)} | ${Math.min(...row.ms).toFixed(1)} | ${Math.max(...row.ms).toFixed(1)} |\n`,
    );
  }
}
