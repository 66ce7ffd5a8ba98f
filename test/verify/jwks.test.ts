import { exportJWK, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import {
  createVerifier,
  type VerifierOptions,
  VerifierUnavailableError,
  verifyAccessToken,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";
import { type KeyServer, rawToken, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
const servers: KeyServer[] = [];

async function keyServer() {
  const ks = await startKeyServer();
  servers.push(ks);
  return ks;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function verifierFor(ks: KeyServer, clock: ManualClock, extra: Partial<VerifierOptions> = {}) {
  return createVerifier({
    issuer: ks.issuer,
    audience: API,
    jwksUri: ks.jwksUri,
    clock,
    ...extra,
  } as VerifierOptions);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "verified",
    (e) => e.code,
  );
}

describe("JWKS lifecycle", () => {
  it("a flood of 200 random-kid tokens costs at most one JWKS fetch per cooldown", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    await v.warmUp();
    expect(ks.jwksFetches).toBe(1);
    const flood = () =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          codeOf(
            v.verify(
              rawToken(
                { alg: "RS256", kid: crypto.randomUUID() },
                { iss: ks.issuer, aud: API, exp: Math.floor(clock.now() / 1000) + 60 },
              ),
            ),
          ),
        ),
      );
    // Inside the cooldown that the warm-up started: no fetch at all.
    expect(new Set(await flood())).toEqual(new Set(["ERR_JWKS_NO_MATCHING_KEY"]));
    expect(ks.jwksFetches).toBe(1);
    // Each later cooldown period: exactly one more fetch, however many unknown kids arrive.
    for (let period = 1; period <= 3; period++) {
      clock.advance(30_001);
      expect(new Set(await flood())).toEqual(new Set(["ERR_JWKS_NO_MATCHING_KEY"]));
      expect(ks.jwksFetches).toBe(1 + period);
    }
  });

  it("a rotated-in key verifies once the cooldown allows a refetch", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    await v.verify(await ks.sign({}, { now: clock.now() }));
    const next = await ks.addKey("ES256");
    const token = await ks.sign({}, { key: next, now: clock.now() });
    expect(await codeOf(v.verify(token))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    clock.advance(30_001);
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
  });

  it("a key removed from the JWKS stops verifying at the next refresh, even for cached tokens", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    const old = ks.keys[0]!;
    const replacement = await ks.addKey("RS256");
    await v.warmUp();
    const token = await ks.sign(
      { exp: Math.floor(clock.now() / 1000) + 7200 },
      { key: old, now: clock.now() },
    );
    const first = await v.verify(token);
    const second = await v.verify(token);
    // Cached from the second verification on: the third call returns the cached result.
    expect(await v.verify(token)).toBe(second);
    expect(second).not.toBe(first);
    ks.removeKey(old.kid);
    clock.advance(600_001);
    // Past max age: this call is still served from the cache and starts a refresh.
    expect(await v.verify(token)).toBe(second);
    await expect.poll(() => v.jwks[0]?.lastRefreshAt).toBe(clock.now());
    expect(await codeOf(v.verify(token))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(await codeOf(v.verify(await ks.sign({}, { key: replacement, now: clock.now() })))).toBe(
      "verified",
    );
  });

  it("JWKS down after warm-up: tokens still verify, up to staleMaxAgeMs", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock, { jwks: { staleMaxAgeMs: 3_600_000 } });
    await v.warmUp();
    ks.mode = "503";
    expect(await codeOf(v.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
    clock.advance(700_000);
    // Stale: a refresh is tried (and fails) while the cached keys keep verifying.
    expect(await codeOf(v.verify(await ks.sign({ jti: "a" }, { now: clock.now() })))).toBe("verified");
    await expect.poll(() => ks.jwksFetches).toBe(2);
    expect(await codeOf(v.verify(await ks.sign({ jti: "b" }, { now: clock.now() })))).toBe("verified");
    clock.advance(3_000_000);
    expect(await codeOf(v.verify(await ks.sign({ jti: "c" }, { now: clock.now() })))).toBe(
      "ERR_VERIFIER_UNAVAILABLE",
    );
    ks.mode = "up";
    clock.advance(30_001);
    expect(await codeOf(v.verify(await ks.sign({ jti: "d" }, { now: clock.now() })))).toBe("verified");
  });

  it.each(["503", "reset"] as const)(
    "JWKS down from the start (%s): VerifierUnavailableError, not InvalidTokenError",
    async (mode) => {
      const ks = await keyServer();
      ks.mode = mode;
      const clock = new ManualClock();
      const v = verifierFor(ks, clock);
      const error = await v.verify(await ks.sign()).catch((e) => e);
      expect(error).toBeInstanceOf(VerifierUnavailableError);
      expect(error.code).toBe("ERR_VERIFIER_UNAVAILABLE");
      expect(error.status).toBe(503);
      // Inside the cooldown the failure is answered without hammering the endpoint.
      await v.verify(await ks.sign()).catch(() => {});
      expect(ks.hits.get("/jwks")).toBe(1);
      await expect(v.warmUp()).rejects.toBeInstanceOf(VerifierUnavailableError);
    },
  );

  it("a hanging JWKS endpoint: VerifierUnavailableError within the timeout", async () => {
    const hang: FaultServer = await startFaultServer();
    try {
      hang.script({ hang: true });
      const v = createVerifier({
        issuer: hang.url,
        audience: API,
        jwksUri: `${hang.url}/jwks`,
        jwks: { timeoutMs: 200 },
      });
      const started = Date.now();
      const error = await v.verify(rawToken({ alg: "RS256", kid: "k" }, { iss: hang.url })).catch((e) => e);
      expect(error).toBeInstanceOf(VerifierUnavailableError);
      expect(error.message).toMatch(/timed out after 200 ms/);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await hang.close();
    }
  });

  it("Cache-Control: max-age shortens the cache time", async () => {
    const ks = await keyServer();
    ks.cacheControl = "public, max-age=120";
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    await v.warmUp();
    const [state] = v.jwks;
    expect(state?.fresh).toBe(true);
    expect(state?.coolingDown).toBe(true);
    clock.advance(31_000);
    expect(state?.coolingDown).toBe(false);
    clock.advance(90_000);
    expect(state?.fresh).toBe(false);
  });

  it("a token enters the verified-token cache on its second verification; one-off tokens never do", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    await v.warmUp();
    const token = await ks.sign({}, { now: clock.now() });
    const a = await v.verify(token);
    const b = await v.verify(token);
    const c = await v.verify(token);
    expect(b).not.toBe(a);
    expect(c).toBe(b);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.claims)).toBe(true);
  });

  it("the verified-token cache never outlives exp, and scopes are checked on every hit", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    const token = await ks.sign(
      { scope: "read", exp: Math.floor(clock.now() / 1000) + 10 },
      { now: clock.now() },
    );
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(await codeOf(v.verify(token, { requiredScopes: "write" }))).toBe("ERR_INSUFFICIENT_SCOPE");
    expect(await codeOf(v.verify(token, { requiredScopes: "read" }))).toBe("verified");
    clock.advance(16_000);
    expect(await codeOf(v.verify(token))).toBe("ERR_JWT_EXPIRED");
  });

  it("a cached token is checked against a per-call audience", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock);
    const token = await ks.sign({}, { now: clock.now() });
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(await codeOf(v.verify(token, { audience: "https://elsewhere.example.com" }))).toBe(
      "ERR_JWT_AUDIENCE",
    );
  });
});

describe("issuers and discovery", () => {
  it("several issuers: each discovered lazily on its first token; an unlisted iss causes no request", async () => {
    const a = await keyServer();
    const b = await keyServer();
    const c = await keyServer();
    const v = createVerifier({ issuer: [a.issuer, b.issuer], audience: API });
    expect(await codeOf(v.verify(await b.sign()))).toBe("verified");
    expect(b.hits.get("/.well-known/openid-configuration")).toBe(1);
    expect(b.jwksFetches).toBe(1);
    expect(a.hits.size).toBe(0);
    expect(await codeOf(v.verify(await a.sign()))).toBe("verified");
    // A token from an unlisted issuer, signed by that issuer's own key.
    expect(await codeOf(v.verify(await c.sign()))).toBe("ERR_JWT_ISSUER");
    expect(c.hits.size).toBe(0);
    // Issuer A's key does not verify a token that claims issuer B.
    const crossed = await a.sign({ iss: b.issuer });
    expect(await codeOf(v.verify(crossed))).toBe("ERR_JWKS_NO_MATCHING_KEY");
  });

  it("discovery down: VerifierUnavailableError, retried after the cooldown", async () => {
    const ks = await keyServer();
    ks.mode = "503";
    const clock = new ManualClock();
    const v = createVerifier({ issuer: ks.issuer, audience: API, clock });
    expect(await codeOf(v.verify(await ks.sign()))).toBe("ERR_VERIFIER_UNAVAILABLE");
    ks.mode = "up";
    expect(await codeOf(v.verify(await ks.sign()))).toBe("ERR_VERIFIER_UNAVAILABLE");
    clock.advance(30_001);
    expect(await codeOf(v.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
  });

  it("verifyAccessToken shares one verifier (and one JWKS cache) per configuration", async () => {
    const ks = await keyServer();
    const options = { issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri };
    const first = await verifyAccessToken(await ks.sign({ scope: "read" }), {
      ...options,
      requiredScopes: ["read"],
    });
    expect(first.scopes).toEqual(["read"]);
    await verifyAccessToken(await ks.sign({ jti: "2" }), { ...options });
    await expect(
      verifyAccessToken(await ks.sign({ scope: "read" }), { ...options, requiredScopes: ["admin"] }),
    ).rejects.toMatchObject({
      code: "ERR_INSUFFICIENT_SCOPE",
    });
    expect(ks.jwksFetches).toBe(1);
  });

  it("keys the JWKS marks for encryption, private keys and symmetric keys are never used", async () => {
    const ks = await keyServer();
    const enc = await ks.addKey("RS256", "enc-key", { use: "enc" });
    const ops = await ks.addKey("RS256", "ops-key", { key_ops: ["encrypt"] });
    const priv = await ks.addKey("RS256", "private-key");
    priv.publicJwk = { ...(await exportJWK(priv.privateKey)), kid: "private-key", alg: "RS256" };
    const secret = new TextEncoder().encode("a-shared-secret-of-enough-length!");
    ks.keys.push({
      ...priv,
      kid: "sym",
      publicJwk: { kty: "oct", kid: "sym", k: Buffer.from(secret).toString("base64url") },
    });
    const v = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    expect(await codeOf(v.verify(await ks.sign({}, { key: enc })))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(await codeOf(v.verify(await ks.sign({}, { key: ops })))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(await codeOf(v.verify(await ks.sign({}, { key: priv })))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    const hs = await new SignJWT({ iss: ks.issuer, aud: API, exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: "HS256", kid: "sym" })
      .sign(secret);
    expect(await codeOf(v.verify(hs))).toBe("ERR_JWT_ALG_NOT_ALLOWED");
  });
});
