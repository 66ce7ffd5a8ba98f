import { generateKeyPairSync, sign } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createVerifier, type VerifierEvent, type VerifierOptions } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import {
  b64url,
  type KeyServer,
  type SigningAlg,
  startKeyServer,
  type TestKey,
} from "../support/key-server.js";

const API = "https://api.example.com";
const servers: KeyServer[] = [];

async function keyServer(algs?: SigningAlg[]) {
  const ks = await startKeyServer({ algs });
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
    (e) => e.code ?? String(e),
  );
}

/** The keys of a provider that omits kid: the JWKS lists them without one. */
function withoutKid(key: TestKey): void {
  const { kid: _kid, ...jwk } = key.publicJwk;
  key.publicJwk = jwk;
}

describe("rotation without kid", () => {
  it("a kid-less token verifies against either of two published keys; a forged one is refused", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const next = await ks.addKey("RS256");
    for (const key of ks.keys) withoutKid(key);
    const v = verifierFor(ks, clock);
    const now = clock.now();
    expect(await codeOf(v.verify(await ks.sign({}, { omitKid: true, now })))).toBe("verified");
    expect(await codeOf(v.verify(await ks.sign({}, { key: next, omitKid: true, now })))).toBe("verified");
    // Cached keys, same tick: both still verify, and nothing is refetched.
    const fetches = ks.jwksFetches;
    expect(await codeOf(v.verify(await ks.sign({ jti: "x" }, { key: next, omitKid: true, now })))).toBe(
      "verified",
    );
    const stranger = await startKeyServer();
    servers.push(stranger);
    const forged = await stranger.sign({ iss: ks.issuer, aud: API }, { omitKid: true, now });
    expect(await codeOf(v.verify(forged))).toBe("ERR_JWT_SIGNATURE");
    // A kid-less forgery causes no more than the usual refetch: none inside the cooldown…
    expect(ks.jwksFetches).toBe(fetches);
    for (let i = 0; i < 20; i++) await codeOf(v.verify(forged));
    expect(ks.jwksFetches).toBe(fetches);
    // …and one per cooldown after it, however many arrive.
    clock.advance(30_001);
    await Promise.all(Array.from({ length: 20 }, () => codeOf(v.verify(forged))));
    expect(ks.jwksFetches).toBe(fetches + 1);
  });

  it("a kid-less token signed with a key published after the cache was filled verifies", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    withoutKid(ks.keys[0] as TestKey);
    const v = verifierFor(ks, clock);
    await v.warmUp();
    clock.advance(30_001);
    const next = await ks.addKey("RS256");
    withoutKid(next);
    const token = await ks.sign({}, { key: next, omitKid: true, now: clock.now() });
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
  });

  it("more keys than the documented maximum (4) fit: refused with ERR_JWKS_NO_MATCHING_KEY", async () => {
    const ks = await keyServer();
    for (let i = 0; i < 4; i++) await ks.addKey("RS256");
    for (const key of ks.keys) withoutKid(key);
    const v = verifierFor(ks, new ManualClock());
    const error = await v.verify(await ks.sign({}, { omitKid: true })).catch((e) => e);
    expect(error.code).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(error.message).toContain("more than 4");
  });
});

describe("a rotation is never refused", () => {
  it("light traffic: keys past their max age, rotated meanwhile: the first new-key token verifies", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const events: VerifierEvent[] = [];
    const v = verifierFor(ks, clock, { onEvent: (e) => events.push(e) });
    expect(await codeOf(v.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
    // An hour later the provider has rotated: the old key is gone, a new one signs.
    clock.advance(3_600_000);
    const old = ks.keys[0] as TestKey;
    const fresh = await ks.addKey("RS256");
    ks.removeKey(old.kid);
    const token = await ks.sign({}, { key: fresh, now: clock.now() });
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
    expect(events.map((e) => e.type)).toContain("jwks_stale");
  });

  it("a scheduled refresh in flight is awaited, not answered with a cooldown refusal", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const v = verifierFor(ks, clock, { jwks: { cacheMaxAgeMs: 60_000, cooldownMs: 300_000 } });
    await v.warmUp();
    clock.advance(61_000);
    const fresh = await ks.addKey("RS256");
    const first = await ks.sign({ jti: "old" }, { now: clock.now() });
    const second = await ks.sign({ jti: "new" }, { key: fresh, now: clock.now() });
    // Both at once: the first starts the background refresh (old key still serves), the second
    // carries the new kid inside the cooldown and waits for that refresh.
    const codes = await Promise.all([codeOf(v.verify(first)), codeOf(v.verify(second))]);
    expect(codes).toEqual(["verified", "verified"]);
    expect(ks.jwksFetches).toBe(2);
  });
});

describe("JWKS max age and back-off", () => {
  it("a cacheMaxAgeMs shorter than the cooldown is honoured; failed refreshes back off", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const events: VerifierEvent[] = [];
    const v = verifierFor(ks, clock, {
      jwks: { cacheMaxAgeMs: 2_000, cooldownMs: 30_000 },
      onEvent: (e) => events.push(e),
    });
    const token = await ks.sign({}, { now: clock.now() });
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(ks.jwksFetches).toBe(1);
    clock.advance(2_500);
    expect(await codeOf(v.verify(token))).toBe("verified");
    await expect.poll(() => ks.jwksFetches).toBe(2);
    await expect.poll(() => v.jwks[0]?.fresh).toBe(true);
    // The endpoint goes down: stale keys keep serving, and refreshes back off.
    ks.mode = "503";
    clock.advance(2_500);
    expect(await codeOf(v.verify(token))).toBe("verified");
    await expect.poll(() => ks.jwksFetches).toBe(3);
    await expect.poll(() => events.some((e) => e.type === "jwks_failed")).toBe(true);
    for (let i = 0; i < 10; i++) {
      clock.advance(2_500);
      expect(await codeOf(v.verify(token))).toBe("verified");
    }
    // 25 s later: still inside the first back-off (30 s), no request to the down endpoint.
    expect(ks.jwksFetches).toBe(3);
    clock.advance(6_000);
    expect(await codeOf(v.verify(token))).toBe("verified");
    await expect.poll(() => ks.jwksFetches).toBe(4);
    // The second failure doubles the back-off.
    clock.advance(31_000);
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(ks.jwksFetches).toBe(4);
    const failed = events.find((e) => e.type === "jwks_failed");
    expect(failed && "error" in failed && failed.error.code).toBe("ERR_VERIFIER_UNAVAILABLE");
  });
});

describe("key strength measured on the imported key", () => {
  it("a 512-bit RSA key padded with zero bytes to 2048 bits is refused", async () => {
    const ks = await keyServer();
    const pair = generateKeyPairSync("rsa", { modulusLength: 512 });
    const jwk = pair.publicKey.export({ format: "jwk" });
    const n = Buffer.concat([Buffer.alloc(256 - 64), Buffer.from(jwk.n as string, "base64url")]);
    expect(n.toString("base64url").length).toBeGreaterThanOrEqual(342);
    ks.keys.push({
      kid: "weak",
      alg: "RS256",
      publicJwk: { kty: "RSA", n: n.toString("base64url"), e: jwk.e, kid: "weak", alg: "RS256", use: "sig" },
    } as TestKey);
    const header = b64url(JSON.stringify({ alg: "RS256", kid: "weak" }));
    const now = Math.floor(Date.now() / 1000);
    const payload = b64url(JSON.stringify({ iss: ks.issuer, aud: API, iat: now, exp: now + 600 }));
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), pair.privateKey);
    const token = `${header}.${payload}.${signature.toString("base64url")}`;
    const v = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    expect(await codeOf(v.verify(token))).toBe("ERR_JWKS_NO_MATCHING_KEY");
  });
});

describe("Ed25519 by its RFC 9864 name", () => {
  it("alg Ed25519 verifies by default and with algorithms: [Ed25519]; an EdDSA-labelled key fits", async () => {
    const ks = await keyServer(["Ed25519"]);
    const token = await ks.sign();
    expect(
      await codeOf(createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri }).verify(token)),
    ).toBe("verified");
    const only = createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwksUri: ks.jwksUri,
      algorithms: ["Ed25519"],
    });
    expect(await codeOf(only.verify(token))).toBe("verified");
    (ks.keys[0] as TestKey).publicJwk.alg = "EdDSA";
    const fresh = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    expect(await codeOf(fresh.verify(await ks.sign({ jti: "2" })))).toBe("verified");
  });
});

describe("events", () => {
  it("verification_failed carries the token's issuer when it is a listed one, and no issuer field otherwise", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const events: VerifierEvent[] = [];
    const v = verifierFor(ks, clock, { onEvent: (e) => events.push(e) });
    const now = clock.now();
    const expired = await ks.sign({ exp: Math.floor(now / 1000) - 60 }, { now });
    const wrongAudience = await ks.sign({ aud: "https://other.example.com" }, { now });
    const unlisted = await ks.sign({ iss: "https://attacker.example.com/" }, { now });
    const noIssuer = await ks.sign({ iss: undefined }, { now });
    for (const token of [expired, wrongAudience, unlisted, noIssuer, "not-a-jwt", "a.%%%.c"]) {
      await codeOf(v.verify(token));
      // The verified-token cache path reports the same.
      await codeOf(v.verify(token));
    }
    const failures = events.filter((e) => e.type === "verification_failed");
    expect(failures.map((e) => [e.code, "issuer" in e ? e.issuer : "(none)"])).toEqual([
      ["ERR_JWT_EXPIRED", ks.issuer],
      ["ERR_JWT_EXPIRED", ks.issuer],
      ["ERR_JWT_AUDIENCE", ks.issuer],
      ["ERR_JWT_AUDIENCE", ks.issuer],
      ["ERR_JWT_ISSUER", "(none)"],
      ["ERR_JWT_ISSUER", "(none)"],
      ["ERR_JWT_ISSUER", "(none)"],
      ["ERR_JWT_ISSUER", "(none)"],
      ["ERR_JWT_MALFORMED", "(none)"],
      ["ERR_JWT_MALFORMED", "(none)"],
      ["ERR_JWT_MALFORMED", "(none)"],
      ["ERR_JWT_MALFORMED", "(none)"],
    ]);
    // A cached token refused by a per-call rule (the cache-hit path) names its issuer too.
    const good = await ks.sign({ scope: "read" }, { now });
    await v.verify(good);
    await codeOf(v.verify(good, { requiredScopes: ["admin"] }));
    expect(events.at(-1)).toMatchObject({
      type: "verification_failed",
      code: "ERR_INSUFFICIENT_SCOPE",
      issuer: ks.issuer,
    });
  });

  it("fetched with duration, cooldown refusals, failures with their code and never the token", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    const events: VerifierEvent[] = [];
    const v = verifierFor(ks, clock, { onEvent: (e) => events.push(e) });
    const token = await ks.sign({}, { now: clock.now() });
    await v.verify(token);
    const fetched = events.find((e) => e.type === "jwks_fetched");
    expect(fetched).toMatchObject({ type: "jwks_fetched", uri: ks.jwksUri, keyCount: 1, changed: true });
    expect(typeof (fetched as { durationMs: number }).durationMs).toBe("number");
    const other = await startKeyServer();
    servers.push(other);
    const unknown = await other.sign({ iss: ks.issuer, aud: API }, { now: clock.now() });
    expect(await codeOf(v.verify(unknown))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(events.map((e) => e.type)).toContain("jwks_cooldown");
    const expired = await ks.sign({ exp: Math.floor(clock.now() / 1000) - 60 }, { now: clock.now() });
    expect(await codeOf(v.verify(expired))).toBe("ERR_JWT_EXPIRED");
    const failures = events.filter((e) => e.type === "verification_failed");
    expect(failures.map((e) => "code" in e && e.code)).toEqual([
      "ERR_JWKS_NO_MATCHING_KEY",
      "ERR_JWT_EXPIRED",
    ]);
    const text = JSON.stringify(events, (_k, v) => (v instanceof Error ? { message: v.message } : v));
    for (const t of [token, unknown, expired]) expect(text).not.toContain(t.split(".")[2]);
    // A listener that throws changes nothing.
    const loud = verifierFor(ks, clock, {
      onEvent: () => {
        throw new Error("logger down");
      },
    });
    expect(await codeOf(loud.verify(token))).toBe("verified");
  });
});
