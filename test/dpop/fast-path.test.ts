/**
 * How DPoP proofs are checked: on Node with node:crypto, in the same tick as the request when the
 * token is cached (Express calls the next handler before the middleware returns); on other runtimes
 * with jose and WebCrypto (the `web-platform` test project runs this file again with that platform).
 * Proof keys are imported once per key, in a bounded cache found by the key itself, never by `kid`.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platform } from "#platform";
import { PROOF_KEY_CACHE_MAX, ProofKeys } from "../../src/dpop/proof-keys.js";
import { createProofVerifier } from "../../src/dpop/verify.js";
import { requireAuth } from "../../src/express/index.js";
import {
  createDpopProof,
  createVerifier,
  type DpopKey,
  generateDpopKey,
  InvalidDpopProofError,
} from "../../src/index.js";
import { platform as nodePlatform } from "../../src/platform/node.js";
import type { Platform } from "../../src/platform/types.js";
import { createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { ManualClock } from "../support/clock.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
const URL_ = `${API}/data`;
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** Which platform this project runs: `#platform` is node:crypto's file in the `node` project. */
const onNode = (platform as unknown) === nodePlatform;

describe(`a DPoP request through Express (${onNode ? "node:crypto" : "jose and WebCrypto"})`, () => {
  let issuer: TestIssuer;
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    issuer = await createTestIssuer({ audience: API, algorithm: "ES256" });
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API, dpop: {} });
    await verifier.warmUp();
    const auth = requireAuth(verifier, { publicUrl: API });
    const app = express();
    // Records whether requireAuth called next() before it returned (the same tick).
    app.get("/data", (req, res, next) => {
      let returned = false;
      auth(req, res, (error?: unknown) => {
        if (error) return next(error);
        res.json({ sameTick: !returned, client: req.auth?.clientId });
      });
      returned = true;
    });
    server = await listen(createServer(app));
  });
  afterAll(async () => {
    await server?.close();
    await issuer?.close();
  });

  it(`a cached token with a fresh proof is answered ${onNode ? "in the same tick" : "after a promise"}`, async () => {
    const key = await generateDpopKey("ES256");
    const token = await issuer.mint({ client_id: "svc" }, { dpopKey: key });
    const answers: unknown[] = [];
    // The first call verifies the token, the second admits it to the verified-token cache.
    for (let i = 0; i < 4; i++) {
      const proof = await createDpopProof(key, { method: "GET", url: URL_, accessToken: token });
      const response = await fetch(`${server.url}/data`, {
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      });
      expect(response.status).toBe(200);
      answers.push(await response.json());
    }
    expect(answers.slice(2)).toEqual([
      { sameTick: onNode, client: "svc" },
      { sameTick: onNode, client: "svc" },
    ]);
  });
});

describe("the proof key cache", () => {
  const clock = new ManualClock();
  /** The project's platform, counting key imports. */
  const counting = () => {
    const runtime = platform as Platform<unknown>;
    const counted = { imports: 0 };
    const wrapped: Platform<unknown> = {
      ...runtime,
      importKey(jwk, alg) {
        counted.imports++;
        return runtime.importKey(jwk, alg);
      },
    };
    return { counted, wrapped };
  };
  const proofOf = (key: DpopKey, jwk?: Record<string, unknown>) =>
    createDpopProof(jwk ? { ...key, publicJwk: jwk } : key, { method: "GET", url: URL_, now: clock.now() });
  const verify = async (verifier: ReturnType<typeof createProofVerifier>, proof: string) => {
    try {
      return (await verifier.verify({ proof, method: "GET", url: URL_ })).thumbprint;
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidDpopProofError);
      return (error as InvalidDpopProofError).code;
    }
  };

  it("imports a key once whatever else its jwk says (kid, use, alg); another key under the same kid is checked with its own key", async () => {
    const { counted, wrapped } = counting();
    const verifier = createProofVerifier({ replayStore: null }, clock, wrapped);
    const [a, b] = await Promise.all([generateDpopKey("ES256"), generateDpopKey("ES256")]);
    const named = (key: DpopKey) => ({ ...key.publicJwk, kid: "client-key" });
    expect(await verify(verifier, await proofOf(a, named(a)))).toBe(a.thumbprint);
    expect(await verify(verifier, await proofOf(a))).toBe(a.thumbprint);
    expect(await verify(verifier, await proofOf(a, { ...a.publicJwk, use: "sig", alg: "ES256" }))).toBe(
      a.thumbprint,
    );
    expect(counted.imports).toBe(1);
    // Signed by a's private key, naming b's public key under a's kid: checked with b's key, refused.
    expect(await verify(verifier, await proofOf(a, named(b)))).toBe("ERR_DPOP_SIGNATURE");
    expect(await verify(verifier, await proofOf(b, named(b)))).toBe(b.thumbprint);
    expect(counted.imports).toBe(2);
    // And a's key is still a's.
    expect(await verify(verifier, await proofOf(b, named(a)))).toBe("ERR_DPOP_SIGNATURE");
    expect(await verify(verifier, await proofOf(a, named(a)))).toBe(a.thumbprint);
    expect(counted.imports).toBe(2);
  });

  it(`holds at most ${PROOF_KEY_CACHE_MAX} keys: past that, the least recently used is imported again`, async () => {
    const { counted, wrapped } = counting();
    const keys = new ProofKeys(wrapped);
    const verifier = createProofVerifier({ replayStore: null }, clock, wrapped, keys);
    const first = await generateDpopKey("ES256");
    expect(await verify(verifier, await proofOf(first))).toBe(first.thumbprint);
    const iat = Math.floor(clock.now() / 1000);
    for (let i = 0; i < PROOF_KEY_CACHE_MAX; i++) {
      const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const header = { typ: "dpop+jwt", alg: "ES256", jwk: other.publicKey.export({ format: "jwk" }) };
      const claims = { jti: `proof-${i}`, htm: "GET", htu: URL_, iat };
      const input = `${base64url(header)}.${base64url(claims)}`;
      const signature = sign("sha256", Buffer.from(input), {
        key: other.privateKey,
        dsaEncoding: "ieee-p1363",
      });
      expect(await verify(verifier, `${input}.${signature.toString("base64url")}`)).toMatch(/^[\w-]{43}$/);
    }
    expect(keys.size).toBe(PROOF_KEY_CACHE_MAX);
    expect(counted.imports).toBe(PROOF_KEY_CACHE_MAX + 1);
    expect(await verify(verifier, await proofOf(first))).toBe(first.thumbprint);
    expect(counted.imports).toBe(PROOF_KEY_CACHE_MAX + 2);
    expect(keys.size).toBe(PROOF_KEY_CACHE_MAX);
  });
});
