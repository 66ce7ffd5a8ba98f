/**
 * Key sets and discovery documents shared through `jwks: { store, integrityKey }`: a verifier made
 * later (a new isolate, a new process) verifies its first token without a request; what the store
 * holds is untrusted input (planted, unauthenticated or copied entries are misses); a failing store
 * is bypassed; the cooldown and max-age rules hold as without a store. Requests are counted at real
 * key servers on 127.0.0.1.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createVerifier,
  type KeyValueStore,
  type Verifier,
  type VerifierEvent,
  type VerifierOptions,
  verifyAccessToken,
} from "../../src/index.js";
import { SharedDocuments } from "../../src/verify/key-value-store.js";
import { CACHE_API_STORE_OPTION_NAMES } from "../../src/web/cache-api-store.js";
import { cacheApiStore } from "../../src/web/index.js";
import { ManualClock } from "../support/clock.js";
import { type KeyServer, rawToken, startKeyServer, type TestKey } from "../support/key-server.js";
import { expectTypoError, namesOf, thrown, typosOf } from "../support/option-names.js";
import { type RedisServer, startRedis } from "../support/redis.js";

const API = "https://api.example.com";
const INTEGRITY_KEY = "integrity-key-of-this-api-0123456789abcdef";
const ATTACKER_KEY = "integrity-key-the-attacker-chose-0123456789";
const DISCOVERY = "/.well-known/openid-configuration";

const servers: KeyServer[] = [];
async function keyServer(): Promise<KeyServer> {
  const ks = await startKeyServer();
  servers.push(ks);
  return ks;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A `Map` is a `KeyValueStore` (entries never expire; the verifier checks their age itself). */
function mapStore(): Map<string, string> {
  return new Map<string, string>();
}

/** Requests to discovery and to the JWKS so far. */
function requests(ks: KeyServer): { discovery: number; jwks: number } {
  return { discovery: ks.hits.get(DISCOVERY) ?? 0, jwks: ks.jwksFetches };
}

function verifierOn(
  ks: KeyServer,
  store: KeyValueStore,
  extra: Partial<VerifierOptions> & { events?: VerifierEvent[]; integrityKey?: string | null } = {},
): Verifier {
  const { events, integrityKey, jwks, ...rest } = extra;
  return createVerifier({
    issuer: ks.issuer,
    audience: API,
    jwks: { store, integrityKey: integrityKey === undefined ? INTEGRITY_KEY : integrityKey, ...jwks },
    ...(events && { onEvent: (event: VerifierEvent) => events.push(event) }),
    ...rest,
  } as VerifierOptions);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "verified",
    (e) => e.code,
  );
}

/** Verifies with the first verifier and waits for its writes (discovery and key set) to land. */
async function warmStore(ks: KeyServer, store: ReturnType<typeof mapStore>, clock?: ManualClock) {
  const first = verifierOn(ks, store, clock ? { clock } : {});
  await first.verify(await ks.sign({}, clock ? { now: clock.now() } : {}));
  await expect.poll(() => store.size).toBe(2);
  return first;
}

const typesOf = (events: VerifierEvent[]) => events.map((e) => e.type);

describe("a second isolate on the same store", () => {
  it("verifies its first token with no discovery and no JWKS request", async () => {
    const ks = await keyServer();
    const store = mapStore();
    await warmStore(ks, store);
    expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
    // Store keys are hashes: no URL in clear.
    for (const key of store.keys()) {
      expect(key).toMatch(/^m2m-kit:(jwks|discovery):[A-Za-z0-9_-]{43}$/);
      expect(key).not.toContain("127.0.0.1");
    }

    const events: VerifierEvent[] = [];
    const second = verifierOn(ks, store, { events });
    const auth = await second.verify(await ks.sign({ client_id: "svc" }));
    expect(auth.clientId).toBe("svc");
    expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
    expect(typesOf(events)).toEqual(["store_hit", "store_hit"]);
    expect(events.map((e) => (e as { kind: string }).kind)).toEqual(["discovery", "jwks"]);
    expect(second.jwks[0]?.fetchCount).toBe(0);
  });

  it("with jwksUri: one JWKS request for both verifiers; warmUp reads the store too", async () => {
    const ks = await keyServer();
    const store = mapStore();
    await verifierOn(ks, store, { jwksUri: ks.jwksUri }).warmUp();
    await expect.poll(() => store.size).toBe(1);
    const second = verifierOn(ks, store, { jwksUri: ks.jwksUri });
    await second.warmUp();
    expect(await codeOf(second.verify(await ks.sign()))).toBe("verified");
    expect(requests(ks)).toEqual({ discovery: 0, jwks: 1 });
  });

  it("hands the writes to the call's waitUntil", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const waiting: Promise<unknown>[] = [];
    const verifier = verifierOn(ks, store);
    await verifier.verify(await ks.sign(), { waitUntil: (promise) => waiting.push(promise) });
    expect(waiting).toHaveLength(2);
    await Promise.all(waiting);
    expect(store.size).toBe(2);
  });

  it("works with Redis as the store (node-redis), across verifiers as across processes", async () => {
    let server: RedisServer | undefined;
    let redis: ReturnType<typeof createClient> | undefined;
    try {
      server = await startRedis();
      const client = createClient({ url: server.url });
      redis = client;
      await client.connect();
      const store: KeyValueStore = {
        get: (key) => client.get(key),
        set: (key, value, { ttlSeconds }) => client.set(key, value, { EX: ttlSeconds }),
      };
      const ks = await keyServer();
      const first = verifierOn(ks, store);
      await first.verify(await ks.sign());
      await expect.poll(() => client.dbSize()).toBe(2);
      const ttl = await client.ttl((await client.keys("m2m-kit:jwks:*"))[0] as string);
      expect(ttl).toBeGreaterThan(86_000);
      await verifierOn(ks, store).verify(await ks.sign());
      expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
    } finally {
      await redis?.quit();
      await server?.stop();
    }
  });

  it("verifyAccessToken keeps one verifier per store object", async () => {
    const ks = await keyServer();
    const store = mapStore();
    let reads = 0;
    const counting: KeyValueStore = {
      get: (key) => {
        reads++;
        return store.get(key);
      },
      set: (key, value) => store.set(key, value),
    };
    const options = {
      issuer: ks.issuer,
      audience: API,
      jwksUri: ks.jwksUri,
      jwks: { store: counting, integrityKey: INTEGRITY_KEY },
    };
    await verifyAccessToken(await ks.sign({ jti: "1" }), options);
    await verifyAccessToken(await ks.sign({ jti: "2" }), options);
    expect(reads).toBe(1);
    // Another store object (empty): another verifier, which reads its own store, then fetches.
    const other = mapStore();
    await verifyAccessToken(await ks.sign({ jti: "3" }), {
      ...options,
      jwks: { ...options.jwks, store: other },
    });
    expect(ks.jwksFetches).toBe(2);
    expect(reads).toBe(1);
  });
});

describe("what the store holds is untrusted input", () => {
  /** The attacker's own key, published nowhere but in what they plant. */
  async function attacker() {
    const evil = await keyServer();
    return { evil, jwksText: JSON.stringify({ keys: evil.keys.map((k) => k.publicJwk) }) };
  }

  function writerWith(store: KeyValueStore, integrityKey: string | null) {
    return new SharedDocuments({ store, integrityKey, timeoutMs: 500, now: Date.now, onEvent: undefined });
  }

  it("a key set authenticated with another integrityKey is a miss: the attacker's token is refused", async () => {
    const ks = await keyServer();
    const { evil, jwksText } = await attacker();
    const store = mapStore();
    await writerWith(store, ATTACKER_KEY).write(
      "jwks",
      ks.jwksUri,
      jwksText,
      Date.now(),
      undefined,
      86_400_000,
    );
    const events: VerifierEvent[] = [];
    const verifier = verifierOn(ks, store, { jwksUri: ks.jwksUri, events });
    const forged = await evil.sign({ iss: ks.issuer, aud: API }, { header: { kid: ks.keys[0]!.kid } });
    expect(await codeOf(verifier.verify(forged))).toBe("ERR_JWT_SIGNATURE");
    const withItsOwnKid = await evil.sign({ iss: ks.issuer, aud: API });
    expect(await codeOf(verifier.verify(withItsOwnKid))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    expect(events).toContainEqual({
      type: "store_entry_refused",
      kind: "jwks",
      uri: ks.jwksUri,
      reason: "the entry is not authenticated with this integrityKey",
    });
    // The real keys were fetched, and they verify.
    expect(await codeOf(verifier.verify(await ks.sign()))).toBe("verified");
    expect(ks.jwksFetches).toBe(1);
  });

  it("an unauthenticated entry (written with integrityKey: null) is a miss for a verifier with a key", async () => {
    const ks = await keyServer();
    const { evil, jwksText } = await attacker();
    const store = mapStore();
    await writerWith(store, null).write("jwks", ks.jwksUri, jwksText, Date.now(), undefined, 86_400_000);
    const events: VerifierEvent[] = [];
    const verifier = verifierOn(ks, store, { jwksUri: ks.jwksUri, events });
    expect(await codeOf(verifier.verify(await evil.sign({ iss: ks.issuer, aud: API })))).toBe(
      "ERR_JWKS_NO_MATCHING_KEY",
    );
    expect(typesOf(events)).toContain("store_entry_refused");
  });

  it("a planted discovery document pointing at the attacker's keys is a miss: no request reaches them", async () => {
    const ks = await keyServer();
    const { evil } = await attacker();
    const store = mapStore();
    const planted = JSON.stringify({ issuer: ks.issuer, jwks_uri: evil.jwksUri });
    await writerWith(store, ATTACKER_KEY).write(
      "discovery",
      ks.issuer,
      planted,
      Date.now(),
      undefined,
      86_400_000,
    );
    const events: VerifierEvent[] = [];
    const verifier = verifierOn(ks, store, { events });
    expect(await codeOf(verifier.verify(await evil.sign({ iss: ks.issuer, aud: API })))).toBe(
      "ERR_JWKS_NO_MATCHING_KEY",
    );
    expect(evil.jwksFetches).toBe(0);
    expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
    expect(events.find((e) => e.type === "store_entry_refused")).toMatchObject({
      kind: "discovery",
      uri: ks.issuer,
    });
  });

  it.each([INTEGRITY_KEY, null])(
    "entries copied from another issuer's names are misses (integrityKey %s)",
    async (integrityKey) => {
      const a = await keyServer();
      const b = await keyServer();
      const store = mapStore();
      // Written with this integrity key (or none) by a verifier of issuer A.
      const writer = verifierOn(a, store, { integrityKey });
      await writer.verify(await a.sign());
      await expect.poll(() => store.size).toBe(2);
      const entries = new Map(store);
      // B's verifier would read these names: put A's entries there.
      const probe = mapStore();
      await verifierOn(b, probe, { integrityKey }).verify(await b.sign());
      await expect.poll(() => probe.size).toBe(2);
      const bNames = [...probe.keys()];
      const aValues = [...entries.entries()];
      store.clear();
      for (const name of bNames) {
        const kind = name.split(":")[1];
        const copied = aValues.find(([aName]) => aName.split(":")[1] === kind)?.[1];
        store.set(name, copied as string);
      }
      const before = requests(b);
      const events: VerifierEvent[] = [];
      const victim = verifierOn(b, store, { integrityKey, events });
      // A token of issuer A's key that claims to be from B.
      const crossed = await a.sign({ iss: b.issuer, aud: API });
      expect(await codeOf(victim.verify(crossed))).toBe("ERR_JWKS_NO_MATCHING_KEY");
      expect(
        events.filter((e) => e.type === "store_entry_refused").map((e) => (e as { kind: string }).kind),
      ).toEqual(["discovery", "jwks"]);
      expect(requests(b)).toEqual({ discovery: before.discovery + 1, jwks: before.jwks + 1 });
      expect(await codeOf(victim.verify(await b.sign()))).toBe("verified");
    },
  );

  it.each([
    ["not an entry", "{}"],
    ["garbage after the prefix", "m2m1.abc.{not json\n{}"],
    ["a number", 42 as unknown as string],
  ])("a value that is %s is a miss, not an error", async (_name, value) => {
    const ks = await keyServer();
    const store = mapStore();
    await warmStore(ks, store);
    for (const key of store.keys()) store.set(key, value);
    const events: VerifierEvent[] = [];
    expect(await codeOf(verifierOn(ks, store, { events }).verify(await ks.sign()))).toBe("verified");
    expect(typesOf(events).filter((t) => t === "store_entry_refused")).toHaveLength(2);
    expect(requests(ks)).toEqual({ discovery: 2, jwks: 2 });
  });

  it("an authentic entry that is not a JWK set, or fetched in the future, is refused", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const writer = writerWith(store, INTEGRITY_KEY);
    await writer.write("jwks", ks.jwksUri, '{"keys":"none"}', Date.now(), undefined, 86_400_000);
    const events: VerifierEvent[] = [];
    // The refused entry is a miss: the keys are fetched, and written (awaited here) over it.
    const waiting: Promise<unknown>[] = [];
    await verifierOn(ks, store, { jwksUri: ks.jwksUri, events }).verify(await ks.sign(), {
      waitUntil: (promise) => waiting.push(promise),
    });
    expect(waiting).toHaveLength(1);
    await Promise.all(waiting);
    await writer.write(
      "jwks",
      ks.jwksUri,
      JSON.stringify({ keys: [] }),
      Date.now() + 3_600_000,
      undefined,
      1,
    );
    await verifierOn(ks, store, { jwksUri: ks.jwksUri, events }).warmUp();
    expect(
      events.filter((e) => e.type === "store_entry_refused").map((e) => (e as { reason: string }).reason),
    ).toEqual(["not a JWK set", "the entry was fetched in the future"]);
  });
});

describe("a failing store is bypassed", () => {
  const failing: Array<[string, KeyValueStore]> = [
    [
      "throws",
      {
        get: () => {
          throw new Error("store down");
        },
        set: () => {
          throw new Error("store down");
        },
      },
    ],
    [
      "rejects",
      {
        get: () => Promise.reject(new Error("store down")),
        set: () => Promise.reject(new Error("store down")),
      },
    ],
    ["never answers", { get: () => new Promise(() => {}), set: () => new Promise(() => {}) }],
  ];
  it.each(failing)("a store that %s: an event, and the token verifies", async (how, store) => {
    const ks = await keyServer();
    const events: VerifierEvent[] = [];
    const waiting: Promise<unknown>[] = [];
    const verifier = verifierOn(ks, store, { events, jwks: { storeTimeoutMs: 50 } });
    const started = Date.now();
    expect(
      await codeOf(verifier.verify(await ks.sign(), { waitUntil: (promise) => waiting.push(promise) })),
    ).toBe("verified");
    await Promise.all(waiting);
    expect(Date.now() - started).toBeLessThan(5_000);
    const failures = events.filter((e) => e.type === "store_failed");
    expect(failures.map((e) => `${e.operation} ${e.kind}`).sort()).toEqual([
      "get discovery",
      "get jwks",
      "set discovery",
      "set jwks",
    ]);
    expect(failures[0]?.reason).toBe(how === "never answers" ? "no answer within 50 ms" : "store down");
    expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
  });
});

describe("the cooldown and max-age rules hold with a store", () => {
  it("an entry younger than cacheMaxAgeMs is fresh: no request", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    clock.advance(599_000);
    const second = verifierOn(ks, store, { clock });
    expect(await codeOf(second.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
    expect(requests(ks)).toEqual({ discovery: 1, jwks: 1 });
    expect(second.jwks[0]?.fresh).toBe(true);
  });

  it("an entry older than cacheMaxAgeMs is fetched again before the token is checked, and rewritten", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    const written = new Map(store);
    clock.advance(600_001);
    const events: VerifierEvent[] = [];
    const second = verifierOn(ks, store, { clock, events });
    expect(await codeOf(second.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
    expect(typesOf(events)).toContain("store_hit");
    expect(typesOf(events)).not.toContain("jwks_stale");
    // The discovery document is past cacheMaxAgeMs as well: discovered again.
    expect(requests(ks).discovery).toBe(2);
    await expect.poll(() => [...store.values()].every((v, i) => v !== [...written.values()][i])).toBe(true);
    // A third isolate now finds a fresh entry.
    const third = verifierOn(ks, store, { clock });
    await third.verify(await ks.sign({}, { now: clock.now() }));
    expect(requests(ks)).toEqual({ discovery: 2, jwks: 2 });
  });

  it("an old authentic entry put back in the store does not bring back a key the issuer has removed", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    // What the store held while the key was published: authentic, and an hour old below.
    const before = new Map(store);
    const [leaked] = ks.keys as [TestKey];
    await ks.addKey("ES256");
    ks.removeKey(leaked.kid);
    clock.advance(3_600_000);
    await warmStore(ks, store, clock);
    // Someone who can write to the store (not knowing integrityKey) puts the old entries back.
    for (const [name, value] of before) store.set(name, value);
    const forged = await ks.sign({ sub: "admin" }, { key: leaked, now: clock.now() });
    const cold = verifierOn(ks, store, { clock });
    expect(await codeOf(cold.verify(forged))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    // On Workers too, where the call hands its background work to waitUntil.
    const worker = verifierOn(ks, store, { clock });
    expect(await codeOf(worker.verify(forged, { waitUntil: () => {} }))).toBe("ERR_JWKS_NO_MATCHING_KEY");
  });

  it("an entry older than staleMaxAgeMs is not used: the keys are fetched before the token is checked", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    clock.advance(86_400_001);
    ks.mode = "503";
    const events: VerifierEvent[] = [];
    // Discovery's entry is as old: it is not used either.
    for (const options of [{}, { jwksUri: ks.jwksUri }]) {
      const second = verifierOn(ks, store, { clock, events, ...options });
      expect(await codeOf(second.verify(await ks.sign({}, { now: clock.now() })))).toBe(
        "ERR_VERIFIER_UNAVAILABLE",
      );
    }
    expect(typesOf(events)).not.toContain("store_hit");
    expect(ks.hits.get("/jwks")).toBe(2);
    ks.mode = "up";
  });

  it("the issuer down: a cold verifier serves stale entries from the store (stale-if-error)", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    clock.advance(3_600_000);
    ks.mode = "503";
    const events: VerifierEvent[] = [];
    const second = verifierOn(ks, store, { clock, events });
    expect(await codeOf(second.verify(await ks.sign({}, { now: clock.now() })))).toBe("verified");
    // Discovery was tried (and failed); the key set served stale while its refresh failed.
    expect(ks.hits.get(DISCOVERY)).toBe(2);
    await expect.poll(() => ks.hits.get("/jwks")).toBe(2);
    expect(events.find((e) => e.type === "jwks_stale")).toMatchObject({ uri: ks.jwksUri, ageMs: 3_600_000 });
    ks.mode = "up";
  });

  it("a random-kid flood on a verifier loaded from the store: one JWKS request per cooldown", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    const second = verifierOn(ks, store, { clock });
    await second.verify(await ks.sign({}, { now: clock.now() }));
    expect(ks.jwksFetches).toBe(1);
    const flood = () =>
      Promise.all(
        Array.from({ length: 100 }, () =>
          codeOf(
            second.verify(
              rawToken(
                { alg: "RS256", kid: crypto.randomUUID() },
                { iss: ks.issuer, aud: API, exp: Math.floor(clock.now() / 1000) + 60 },
              ),
            ),
          ),
        ),
      );
    // Keys read from the store start no cooldown: the first unknown kid may fetch (a rotation the
    // stored set predates), the others wait for the cooldown.
    expect(new Set(await flood())).toEqual(new Set(["ERR_JWKS_NO_MATCHING_KEY"]));
    expect(ks.jwksFetches).toBe(2);
    expect(new Set(await flood())).toEqual(new Set(["ERR_JWKS_NO_MATCHING_KEY"]));
    expect(ks.jwksFetches).toBe(2);
    clock.advance(30_001);
    await flood();
    expect(ks.jwksFetches).toBe(3);
  });

  it("key rotation: an unknown kid refetches and writes the store; the next isolate has the new key", async () => {
    const ks = await keyServer();
    const store = mapStore();
    const clock = new ManualClock();
    await warmStore(ks, store, clock);
    const next = await ks.addKey("ES256");
    const rotated = await ks.sign({}, { key: next, now: clock.now() });
    const second = verifierOn(ks, store, { clock });
    const waiting: Promise<unknown>[] = [];
    const waitUntil = (promise: Promise<unknown>) => waiting.push(promise);
    expect(await codeOf(second.verify(rotated, { waitUntil }))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
    // The refetched set was written (through waitUntil): the next isolate has the new key.
    expect(waiting).toHaveLength(1);
    await Promise.all(waiting);
    const third = verifierOn(ks, store, { clock });
    const alsoRotated = await ks.sign({ jti: "third" }, { key: next, now: clock.now() });
    expect(await codeOf(third.verify(alsoRotated))).toBe("verified");
    expect(ks.jwksFetches).toBe(2);
  });
});

describe("configuration", () => {
  let ks: KeyServer;
  beforeAll(async () => {
    ks = await keyServer();
  });
  const create = (jwks: unknown) => () =>
    createVerifier({ issuer: ks.issuer, audience: API, jwks } as VerifierOptions);

  it("integrityKey is required with a store; null opts out visibly", () => {
    const store = mapStore();
    expect(create({ store })).toThrow(TypeError);
    expect(create({ store })).toThrow(/^jwks\.integrityKey is required with jwks\.store/);
    expect(create({ store, integrityKey: "short" })).toThrow(
      "jwks.integrityKey must be at least 32 characters",
    );
    expect(create({ store, integrityKey: new Uint8Array(16) })).toThrow(
      "jwks.integrityKey must be at least 32 bytes",
    );
    expect(create({ store, integrityKey: 42 })).toThrow("jwks.integrityKey must be a string or a Uint8Array");
    expect(create({ store, integrityKey: null })).not.toThrow();
    expect(create({ store, integrityKey: new Uint8Array(32) })).not.toThrow();
  });

  it("a store must have get and set; store options need a store; storeTimeoutMs is positive", () => {
    expect(create({ store: new Map(), integrityKey: INTEGRITY_KEY })).not.toThrow();
    expect(create({ store: { get: () => undefined }, integrityKey: INTEGRITY_KEY })).toThrow(
      /^jwks\.store must be a key-value store/,
    );
    expect(create({ store: "redis://", integrityKey: INTEGRITY_KEY })).toThrow(/^jwks\.store must be/);
    expect(create({ integrityKey: INTEGRITY_KEY })).toThrow("jwks.integrityKey is used only with jwks.store");
    expect(create({ storeTimeoutMs: 100 })).toThrow("jwks.storeTimeoutMs is used only with jwks.store");
    expect(create({ store: mapStore(), integrityKey: INTEGRITY_KEY, storeTimeoutMs: 0 })).toThrow(
      "jwks.storeTimeoutMs must be a positive number of milliseconds",
    );
    expect(create({ stor: mapStore() })).toThrow(
      "jwks.stor is not an option of createVerifier(); did you mean jwks.store?",
    );
  });

  it("the integrity key never appears in an error or an event", async () => {
    const events: VerifierEvent[] = [];
    const store: KeyValueStore = { get: () => Promise.reject(new Error("down")), set: () => undefined };
    await createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwks: { store, integrityKey: INTEGRITY_KEY },
      onEvent: (event) => events.push(event),
    }).verify(await ks.sign());
    expect(JSON.stringify(events)).not.toContain(INTEGRITY_KEY);
  });

  it("cacheApiStore: options checked at creation; without caches.default a cache is required", () => {
    expect(() => cacheApiStore({ namespace: "api" })).toThrow(
      "cache is required where there is no caches.default (Cloudflare Workers): pass await caches.open(name)",
    );
    const cache = { match: async () => undefined, put: async () => {} } as unknown as Cache;
    expect(() => cacheApiStore({ namespace: "a/b", cache })).toThrow(/^namespace must be/);
    expect(() => cacheApiStore({ namespace: "api", cache, origin: "not a url" })).toThrow(/^origin must be/);
    expect(() => cacheApiStore({ namespace: "api", cache, orign: "https://a.example" } as never)).toThrow(
      "orign is not an option of cacheApiStore(); did you mean origin?",
    );
    for (const [typo, meant] of typosOf(namesOf(CACHE_API_STORE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => cacheApiStore({ namespace: "api", cache, [typo]: "x" } as never)),
        typo,
        meant,
      );
    }
    expect(() => cacheApiStore({ namespace: "api", cache: {} as Cache })).toThrow(
      "cache must be a Cache (match and put)",
    );
  });
});
