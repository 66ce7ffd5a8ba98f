/**
 * DPoP request cost (RFC 9449 §4.3 proof verification + the access token) next to Bearer, per proof
 * algorithm, through the Express middlewares of m2m-kit and express-oauth2-jwt-bearer (which
 * verifies DPoP proofs since 1.7), in one process and one run. Each middleware gets the request
 * object Express would hand it (method, URL, headers, `get`, `app`), so no socket or router time is
 * in the figures. Each DPoP call carries a proof never sent before (m2m-kit refuses replays), made
 * ahead of time. The floor is node:crypto's `verify` of proof signatures on already-decoded buffers:
 * a DPoP request can cost no less than that floor plus a cached Bearer request. The tasks run
 * interleaved call by call and each call is timed on its own (medians), so that a loaded machine
 * slows every task alike and the ratios hold. Imported by bench/verify.ts.
 *
 *   BENCH_PARTS=dpop npm run bench   (BENCH_DPOP_ALGS=ES256,EdDSA,RS256 to change)
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from "node:crypto";
import { auth as auth0 } from "express-oauth2-jwt-bearer";
import { requireAuth } from "../dist/express.js";
import { createVerifier } from "../dist/index.js";

export type Alg = "RS256" | "PS256" | "ES256" | "EdDSA";

export interface IssuerKey {
  alg: Alg;
  kid: string;
  privateKey: KeyObject;
}

interface Row {
  alg: Alg;
  name: string;
  /** Median time per call over every round, µs. */
  us: number;
  /** Per round: this row's median ÷ the floor's median in the same group. */
  perFloor: number[];
  /** Per round, m2m-kit's rows: this row's median ÷ (the floor's median + the cached Bearer's median). */
  perBudget: number[];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
};

const HASH: Record<Alg, string | null> = { RS256: "sha256", PS256: "sha256", ES256: "sha256", EdDSA: null };
const DPOP_ALGS = process.env.BENCH_DPOP_ALGS?.split(",") ?? ["ES256", "EdDSA", "RS256"];

export const FLOOR = "node:crypto verify of the proof signature (floor)";
export const M2M_BEARER = "m2m-kit Bearer (cached token)";
export const M2M_DPOP = "m2m-kit DPoP (proof + cached token)";
export const PEER_BEARER = "express-oauth2-jwt-bearer Bearer";
export const PEER_DPOP = "express-oauth2-jwt-bearer DPoP";

function keyInput(alg: Alg, key: KeyObject) {
  if (alg === "PS256") return { key, padding: 6, saltLength: 32 }; // RSA_PKCS1_PSS_PADDING
  if (alg === "ES256") return { key, dsaEncoding: "ieee-p1363" as const };
  return key;
}
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function signWith(alg: Alg, key: KeyObject, data: string): string {
  return sign(HASH[alg], Buffer.from(data), keyInput(alg, key) as never).toString("base64url");
}

function keyPair(alg: Alg) {
  return alg === "ES256"
    ? generateKeyPairSync("ec", { namedCurve: "P-256" })
    : alg === "EdDSA"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
}

/** RFC 7638 thumbprint of a public JWK. */
function thumbprint(jwk: Record<string, unknown>): string {
  const members =
    jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : jwk.kty === "OKP" ? ["crv", "kty", "x"] : ["e", "kty", "n"];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return createHash("sha256").update(canonical).digest("base64url");
}

/** A fake-free Express request as the middlewares read it (no socket: plain HTTP, no proxy). */
function expressRequest(headers: Record<string, string>) {
  return {
    method: "GET",
    url: "/data",
    originalUrl: "/data",
    protocol: "http",
    headers,
    headersDistinct: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    rawHeaders: Object.entries(headers).flat(),
    query: {},
    socket: { remoteAddress: "127.0.0.1" },
    app: { get: () => undefined },
    get(name: string) {
      return headers[name.toLowerCase()];
    },
    is: () => false,
  };
}

type Middleware = (req: never, res: never, next: (error?: unknown) => void) => unknown;

function caller(middleware: Middleware) {
  const res = {
    locals: {},
    status() {
      return this;
    },
    set() {
      return this;
    },
    setHeader() {},
    json() {
      throw new Error("the middleware answered (refused the request)");
    },
    end() {
      throw new Error("the middleware answered (refused the request)");
    },
  };
  return (req: ReturnType<typeof expressRequest>) =>
    new Promise<void>((resolve, reject) =>
      middleware(req as never, res as never, (error) => (error ? reject(error) : resolve())),
    );
}

/**
 * Bearer and DPoP calls per algorithm: the token is signed by the issuer's key of that algorithm, the
 * proof by a client key of the same algorithm.
 */
export async function benchDpop(
  keys: IssuerKey[],
  options: { issuer: string; audience: string; jwksUri: string; timeMs: number; rounds: number },
): Promise<Row[]> {
  const { issuer, audience, jwksUri } = options;
  const host = "api.example.com";
  const htu = `http://${host}/data`;
  const samples = 1500; // per task and round; proofs are made for every sample of every round
  const rows: Row[] = [];
  for (const key of keys.filter((k) => DPOP_ALGS.includes(k.alg))) {
    const client = keyPair(key.alg);
    const jwk = client.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ alg: key.alg, kid: key.kid, typ: "at+jwt" });
    const claims = {
      iss: issuer,
      aud: audience,
      sub: "svc",
      client_id: "svc",
      scope: "read:data",
      iat: now,
      exp: now + 3600,
    };
    const signToken = (payload: object) => {
      const input = `${header}.${b64(payload)}`;
      return `${input}.${signWith(key.alg, key.privateKey, input)}`;
    };
    const bearerToken = signToken({ ...claims, jti: randomUUID() });
    const dpopToken = signToken({ ...claims, jti: randomUUID(), cnf: { jkt: thumbprint(jwk) } });
    const ath = createHash("sha256").update(dpopToken).digest("base64url");
    const proofHeader = b64({ typ: "dpop+jwt", alg: key.alg, jwk });
    const proofs = (count: number) =>
      Array.from({ length: count }, () => {
        const input = `${proofHeader}.${b64({ htm: "GET", htu, iat: now, jti: randomUUID(), ath })}`;
        return `${input}.${signWith(key.alg, client.privateKey, input)}`;
      });
    const need = (samples + 20) * options.rounds + 10;
    process.stdout.write(`  DPoP ${key.alg}: making ${2 * need} proofs…\n`);

    const verifier = createVerifier({ issuer, audience, jwksUri, allowInsecureHttp: true, dpop: {} });
    await verifier.warmUp();
    const m2m = caller(requireAuth(verifier, { publicUrl: `http://${host}` }) as Middleware);
    const peer = caller(
      auth0({ issuer, audience, jwksUri, tokenSigningAlg: key.alg, dpop: { enabled: true } }) as Middleware,
    );
    const bearerRequest = expressRequest({ host, authorization: `Bearer ${bearerToken}` });
    const dpopRequests = (pool: string[]) => {
      let i = 0;
      return () => {
        const proof = pool[i++];
        if (proof === undefined) throw new Error("out of proofs");
        return expressRequest({ host, authorization: `DPoP ${dpopToken}`, dpop: proof });
      };
    };
    const nextM2m = dpopRequests(proofs(need));
    const nextPeer = dpopRequests(proofs(need));
    // The floor: the proof signatures alone, decoded ahead of time, with the client's public key.
    const floorParts = proofs(1000).map((proof) => {
      const dot = proof.lastIndexOf(".");
      return {
        data: Buffer.from(proof.slice(0, dot)),
        signature: Buffer.from(proof.slice(dot + 1), "base64url"),
      };
    });
    const floorKey = keyInput(key.alg, client.publicKey) as never;
    let f = 0;
    // Warm up: keys fetched, the tokens admitted to m2m-kit's verified-token cache.
    for (let i = 0; i < 3; i++) {
      await m2m(bearerRequest);
      await m2m(nextM2m());
      await peer(bearerRequest);
      await peer(nextPeer());
    }
    const floorTask = () => {
      f = (f + 1) % floorParts.length;
      const part = floorParts[f] as (typeof floorParts)[number];
      return () => {
        if (!verify(HASH[key.alg], part.data, floorKey, part.signature)) throw new Error("floor failed");
      };
    };
    // Each task prepares its call (the request object a DPoP call carries) untimed, then the call is
    // timed on its own. The tasks of a group run interleaved call by call, the order rotating: on a
    // shared, loaded machine they meet the same moments, so their ratios hold when the times move.
    // m2m-kit and express-oauth2-jwt-bearer run in separate groups, each with the floor beside it,
    // as an API process runs one of them.
    type Task = [string, () => () => unknown];
    const groups: Task[][] = [
      [
        [FLOOR, floorTask],
        [M2M_BEARER, () => () => m2m(bearerRequest)],
        [
          M2M_DPOP,
          () =>
            (
              (request) => () =>
                m2m(request)
            )(nextM2m()),
        ],
      ],
      [
        [FLOOR, floorTask],
        [PEER_BEARER, () => () => peer(bearerRequest)],
        [
          PEER_DPOP,
          () =>
            (
              (request) => () =>
                peer(request)
            )(nextPeer()),
        ],
      ],
    ];
    for (const tasks of groups) {
      const times = new Map<string, number[][]>(tasks.map(([name]) => [name, []]));
      for (let round = 0; round < options.rounds; round++) {
        for (const [name] of tasks) times.get(name)?.push([]);
        for (let i = 0; i < samples; i++) {
          for (let k = 0; k < tasks.length; k++) {
            const [name, prepare] = tasks[(k + i) % tasks.length] as Task;
            const call = prepare();
            const start = performance.now();
            const result = call();
            if (result instanceof Promise) await result;
            times.get(name)?.[round]?.push((performance.now() - start) * 1000);
          }
        }
      }
      const roundMedians = (name: string) => (times.get(name) ?? []).map(median);
      const floor = roundMedians(FLOOR);
      const bearer = roundMedians(M2M_BEARER);
      for (const [name] of tasks) {
        if (name === FLOOR && tasks !== groups[0]) continue;
        const own = roundMedians(name);
        rows.push({
          alg: key.alg,
          name,
          us: median((times.get(name) ?? []).flat()),
          perFloor: own.map((us, r) => us / (floor[r] as number)),
          perBudget:
            bearer.length === 0
              ? []
              : own.map((us, r) => us / ((floor[r] as number) + (bearer[r] as number))),
        });
      }
    }
  }
  return rows;
}

/** The median of per-round ratios and their range. */
function spread(ratios: number[]): string {
  if (ratios.length === 0) return "";
  const sorted = [...ratios].sort((a, b) => a - b);
  return `${median(sorted).toFixed(2)} (${sorted[0]?.toFixed(2)}–${sorted[sorted.length - 1]?.toFixed(2)})`;
}

export function printDpop(rows: Row[]): void {
  const us = (alg: Alg, name: string) => rows.find((r) => r.alg === alg && r.name === name)?.us ?? Number.NaN;
  process.stdout.write(
    "\n### DPoP request vs Bearer (Express middleware, one call at a time)\n\n" +
      "Medians of every call; ratios: the median over rounds of each round's ratio of medians (range).\n\n" +
      "| alg | what | µs/request | × own Bearer | ÷ floor | ÷ (floor + cached Bearer) |\n" +
      "|---|---|---:|---:|---:|---:|\n",
  );
  for (const alg of [...new Set(rows.map((r) => r.alg))]) {
    for (const r of rows.filter((x) => x.alg === alg)) {
      const own =
        r.name === FLOOR
          ? ""
          : (r.us / us(alg, r.name.startsWith("m2m-kit") ? M2M_BEARER : PEER_BEARER)).toFixed(2);
      process.stdout.write(
        `| ${alg} | ${r.name} | ${r.us.toFixed(1)} | ${own} | ${spread(r.perFloor)} | ${spread(r.perBudget)} |\n`,
      );
    }
  }
}
