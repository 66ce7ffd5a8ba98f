import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDpopNonce,
  createDpopProof,
  createDpopProofVerifier,
  createMemoryReplayStore,
  type DpopAlgorithm,
  generateDpopKey,
  InvalidDpopProofError,
  importDpopKey,
  normalizeHtu,
  ReplayStoreFullError,
  UseDpopNonceError,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const URL_ = "https://api.example.com/data";

describe("DPoP proofs (RFC 9449 §4)", () => {
  it.each(["ES256", "ES384", "PS256", "RS256", "Ed25519"] as DpopAlgorithm[])(
    "a %s proof made with jose verifies and names the key's thumbprint",
    async (alg) => {
      const key = await generateDpopKey(alg);
      const proof = await createDpopProof(key, { method: "get", url: `${URL_}?q=1#f`, accessToken: "tok" });
      const header = decodeProtectedHeader(proof);
      expect(header).toMatchObject({ typ: "dpop+jwt", alg });
      expect(Object.keys(header.jwk ?? {})).not.toContain("d");
      const claims = decodeJwt(proof);
      expect(claims).toMatchObject({ htm: "GET", htu: URL_ });
      expect(typeof claims.jti).toBe("string");
      const verified = await createDpopProofVerifier().verify({
        proof,
        method: "GET",
        url: URL_,
        accessToken: "tok",
      });
      expect(verified.thumbprint).toBe(key.thumbprint);
    },
  );

  it("imports a DPoP key from a private JWK, a PKCS#8 PEM and a CryptoKey, with the same thumbprint", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const fromJwk = await importDpopKey(await exportJWK(pair.privateKey));
    const fromPem = await importDpopKey(await exportPKCS8(pair.privateKey));
    const fromKey = await importDpopKey(pair.privateKey);
    expect(fromJwk.alg).toBe("ES256");
    expect(fromPem.thumbprint).toBe(fromJwk.thumbprint);
    expect(fromKey.thumbprint).toBe(fromJwk.thumbprint);
    const hidden = await generateKeyPair("ES256", { extractable: false });
    await expect(importDpopKey(hidden.privateKey)).rejects.toThrow(/dpop.publicKey is required/);
    expect((await importDpopKey(hidden.privateKey, { publicKey: hidden.publicKey })).alg).toBe("ES256");
    await expect(importDpopKey(await exportJWK(pair.publicKey))).rejects.toThrow(TypeError);
    await expect(importDpopKey(pair.privateKey, { alg: "HS256" as DpopAlgorithm })).rejects.toThrow(
      /dpop.alg must be one of/,
    );
  });

  it("normalises htu as RFC 3986 §6.2.2/§6.2.3 do and drops query and fragment", () => {
    const same = [
      "HTTPS://API.Example.COM:443/data",
      "https://api.example.com/./data?x=1",
      "https://api.example.com/%64ata#frag",
    ];
    for (const value of same) expect(normalizeHtu(value)).toBe(normalizeHtu(URL_));
    expect(normalizeHtu("https://api.example.com:8443/data")).not.toBe(normalizeHtu(URL_));
    expect(normalizeHtu("http://api.example.com/data")).not.toBe(normalizeHtu(URL_));
    expect(normalizeHtu("https://api.example.com/data/")).not.toBe(normalizeHtu(URL_));
    expect(normalizeHtu("https://api.example.com/a%2fb")).toBe("https://api.example.com/a%2Fb");
    expect(normalizeHtu("ftp://api.example.com/data")).toBeUndefined();
    expect(normalizeHtu("/data")).toBeUndefined();
  });

  it("refuses proofs with the RFC 9449 §4.3 checks, each with its own code", async () => {
    const clock = new ManualClock();
    const verifier = createDpopProofVerifier({}, clock);
    const key = await generateDpopKey();
    const now = clock.now();
    const check = async (
      proof: string | string[],
      request: Partial<{ method: string; url: string; accessToken: string }> = {},
    ) => {
      try {
        await verifier.verify({ proof, method: "GET", url: URL_, ...request });
        return "accepted";
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidDpopProofError);
        return (error as InvalidDpopProofError).code;
      }
    };
    const good = () => createDpopProof(key, { method: "GET", url: URL_, accessToken: "tok", now });
    expect(await check(await good(), { accessToken: "tok" })).toBe("accepted");
    expect(await check([])).toBe("ERR_DPOP_MISSING");
    expect(await check([await good(), await good()])).toBe("ERR_DPOP_MULTIPLE");
    expect(await check("not-a-jwt")).toBe("ERR_DPOP_MALFORMED");
    expect(await check(await good(), { method: "POST" })).toBe("ERR_DPOP_HTM");
    expect(await check(await good(), { url: "https://api.example.com/other" })).toBe("ERR_DPOP_HTU");
    expect(await check(await good(), { accessToken: "other" })).toBe("ERR_DPOP_ATH");
    const stale = await createDpopProof(key, { method: "GET", url: URL_, now: now - 61_000 });
    expect(await check(stale)).toBe("ERR_DPOP_IAT");
    const future = await createDpopProof(key, { method: "GET", url: URL_, now: now + 6_000 });
    expect(await check(future)).toBe("ERR_DPOP_IAT");
    const claims = { jti: "j", htm: "GET", htu: URL_, iat: Math.floor(now / 1000) };
    const wrongTyp = await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", typ: "JWT", jwk: key.publicJwk as Record<string, string> })
      .sign(key.privateKey);
    expect(await check(wrongTyp)).toBe("ERR_DPOP_TYP");
    const hs = await new SignJWT(claims)
      .setProtectedHeader({
        alg: "HS256",
        typ: "dpop+jwt",
        jwk: { kty: "oct", k: "c2VjcmV0" } as Record<string, string>,
      })
      .sign(new TextEncoder().encode("secret-secret-secret-secret-secret"));
    expect(await check(hs)).toBe("ERR_DPOP_ALG_NOT_ALLOWED");
    const pair = await generateKeyPair("ES256", { extractable: true });
    const withPrivate = await new SignJWT(claims)
      .setProtectedHeader({
        alg: "ES256",
        typ: "dpop+jwt",
        jwk: (await exportJWK(pair.privateKey)) as Record<string, string>,
      })
      .sign(pair.privateKey);
    expect(await check(withPrivate)).toBe("ERR_DPOP_JWK");
    const otherKey = await generateDpopKey();
    const [h, p] = (await good()).split(".");
    const [, , s] = (await createDpopProof(otherKey, { method: "GET", url: URL_, now })).split(".");
    expect(await check(`${h}.${p}.${s}`)).toBe("ERR_DPOP_SIGNATURE");
  });

  it("remembers a jti for its window: a replay is refused, the same jti is accepted once the window has passed", async () => {
    const clock = new ManualClock();
    const verifier = createDpopProofVerifier({ iatToleranceSeconds: 60 }, clock);
    const key = await generateDpopKey();
    const proof = await createDpopProof(key, { method: "GET", url: URL_, now: clock.now() });
    await verifier.remember(await verifier.verify({ proof, method: "GET", url: URL_ }));
    clock.advance(59_000);
    const again = await verifier.verify({ proof, method: "GET", url: URL_ });
    await expect(verifier.remember(again)).rejects.toMatchObject({ code: "ERR_DPOP_REPLAY" });
    clock.advance(2_000);
    await expect(verifier.verify({ proof, method: "GET", url: URL_ })).rejects.toMatchObject({
      code: "ERR_DPOP_IAT",
    });
  });

  it("asks for a nonce it hands out, and accepts it until it leaves the accepted steps", async () => {
    const clock = new ManualClock();
    const nonce = createDpopNonce({ clock, stepSeconds: 60, acceptedSteps: 2 });
    const verifier = createDpopProofVerifier({ nonce, replayStore: null }, clock);
    const key = await generateDpopKey();
    const without = await createDpopProof(key, { method: "GET", url: URL_, now: clock.now() });
    const error = await verifier.verify({ proof: without, method: "GET", url: URL_ }).catch((e) => e);
    expect(error).toBeInstanceOf(UseDpopNonceError);
    const value = (error as UseDpopNonceError).nonce;
    expect(value).toBe(await nonce.current());
    const withNonce = await createDpopProof(key, {
      method: "GET",
      url: URL_,
      nonce: value,
      now: clock.now(),
    });
    expect((await verifier.verify({ proof: withNonce, method: "GET", url: URL_ })).nonce).toBe(value);
    clock.advance(60_000);
    expect(await nonce.check(value)).toBe(true);
    clock.advance(60_000);
    expect(await nonce.check(value)).toBe(false);
    expect(await nonce.current()).not.toBe(value);
  });
});

describe("the memory replay store is bounded and never forgets a jti inside its window", () => {
  it("holds 100 000 distinct proofs under the documented bound, refuses every replay, and refuses new proofs when full (503)", () => {
    const clock = new ManualClock(1_800_000_000_000);
    const store = createMemoryReplayStore({ clock });
    expect(store.maxEntries).toBe(100_000);
    const thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    // Keys as the verifier makes them (thumbprint "." jti), with UUID-sized jtis made inside the
    // measurement, so the figure includes the keys.
    const keyOf = (i: number) => `${thumbprint}.${i.toString(16).padStart(36, "0")}`;
    // A real collection before each reading, so the figure is what the store retains.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) if (store.remember(keyOf(i), clock.now() + 61_000)) accepted++;
    gc();
    const bytes = process.memoryUsage().heapUsed - before;
    // The documented bound (createMemoryReplayStore): 320 bytes per entry with a UUID-sized jti.
    expect(bytes).toBeLessThan(100_000 * 320);
    console.log(`replay store: 100000 entries, ${(bytes / 1e6).toFixed(1)} MB heap`);
    clock.advance(30_000);
    expect(accepted).toBe(100_000);
    let replays = 0;
    for (let i = 0; i < 100_000; i++) if (store.remember(keyOf(i), clock.now() + 61_000)) replays++;
    expect(replays).toBe(0);
    const full = (() => {
      try {
        store.remember(`${thumbprint}.one-more`, clock.now() + 61_000);
      } catch (error) {
        return error;
      }
    })();
    expect(full).toBeInstanceOf(ReplayStoreFullError);
    expect(full).toMatchObject({ status: 503, retryAfterSeconds: 31 });
    expect(store.size).toBe(100_000);
    clock.advance(31_000);
    expect(store.remember(`${thumbprint}.one-more`, clock.now() + 61_000)).toBe(true);
    expect(store.remember(keyOf(0), clock.now() + 61_000)).toBe(true);
  });

  it("when full, frees only the entries whose window has ended", () => {
    const clock = new ManualClock(0);
    const store = createMemoryReplayStore({ clock, maxEntries: 3 });
    expect(store.remember("a", 10_000)).toBe(true);
    expect(store.remember("b", 50_000)).toBe(true);
    expect(store.remember("c", 5_000)).toBe(true);
    clock.advance(6_000);
    expect(store.remember("d", 60_000)).toBe(true);
    expect(() => store.remember("e", 60_000)).toThrow(ReplayStoreFullError);
    expect(store.remember("a", 70_000)).toBe(false);
    expect(store.remember("b", 70_000)).toBe(false);
    expect(store.remember("d", 70_000)).toBe(false);
    clock.advance(5_000);
    expect(store.remember("e", 60_000)).toBe(true);
    expect(store.remember("b", 70_000)).toBe(false);
  });
});

describe("oidc-provider's DPoP feature (features.dPoP)", () => {
  let plain: RunningProvider;
  let nonced: RunningProvider;
  beforeAll(async () => {
    [plain, nonced] = await Promise.all([startProvider(), startProvider({ dpop: { requireNonce: true } })]);
  });
  afterAll(async () => {
    await Promise.all([plain?.close(), nonced?.close()]);
  });

  async function tokenRequest(server: RunningProvider, proof: string) {
    return fetch(server.tokenEndpoint, {
      method: "POST",
      headers: { dpop: proof },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        resource: "https://api.example.com",
        client_id: "post-client",
        client_secret: ODD_SECRET,
      }),
    });
  }

  it("binds the access token to the proof key (cnf.jkt) and answers token_type DPoP", async () => {
    const key = await generateDpopKey();
    const proof = await createDpopProof(key, { method: "POST", url: plain.tokenEndpoint });
    const response = await tokenRequest(plain, proof);
    const json = (await response.json()) as { token_type: string; access_token: string };
    expect(response.status).toBe(200);
    expect(json.token_type).toBe("DPoP");
    expect(decodeJwt(json.access_token).cnf).toEqual({ jkt: key.thumbprint });
  });

  it("a provider that requires a nonce answers use_dpop_nonce with DPoP-Nonce first", async () => {
    const key = await generateDpopKey();
    const response = await tokenRequest(
      nonced,
      await createDpopProof(key, { method: "POST", url: nonced.tokenEndpoint }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "use_dpop_nonce" });
    expect(response.headers.get("dpop-nonce")).toMatch(/^[\w-]{20,}$/);
  });
});
