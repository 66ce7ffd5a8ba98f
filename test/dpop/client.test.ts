import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ClientCredentialsClient,
  type DpopAlgorithm,
  MemoryTokenStore,
  TokenRequestError,
} from "../../src/index.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";

describe("the client gets DPoP-bound tokens from oidc-provider (RFC 9449 §5)", () => {
  let plain: RunningProvider;
  let nonced: RunningProvider;
  let fault: FaultServer;
  beforeAll(async () => {
    [plain, nonced, fault] = await Promise.all([
      startProvider(),
      startProvider({ dpop: { requireNonce: true } }),
      startFaultServer(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([plain?.close(), nonced?.close(), fault?.close()]);
  });

  const client = (
    server: RunningProvider,
    extra: Partial<ConstructorParameters<typeof ClientCredentialsClient>[0]> = {},
  ) =>
    new ClientCredentialsClient({
      issuer: server.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      dpop: true,
      ...extra,
    });

  it("dpop: true binds the token to a key made for the client: token_type DPoP, cnf.jkt = the key's thumbprint", async () => {
    plain.resetCount();
    const c = client(plain);
    const token = await c.getToken({ audience: API });
    expect(token.tokenType).toBe("DPoP");
    expect(token.authorization).toMatch(/^DPoP ey/);
    const thumbprint = await c.dpopThumbprint();
    expect(decodeJwt(token.accessToken).cnf).toEqual({ jkt: thumbprint });
    const proof = plain.requests[0]!.dpop!;
    expect(decodeProtectedHeader(proof)).toMatchObject({ typ: "dpop+jwt", alg: "ES256" });
    expect(decodeJwt(proof)).toMatchObject({ htm: "POST", htu: plain.tokenEndpoint });
    await c.getToken({ audience: API });
    expect(plain.tokenRequests).toBe(1);
  });

  it("a provider that requires a nonce: 2 requests for the first token, then 1 with the latest nonce, across nonce rotations", async () => {
    // oidc-provider derives its nonces from Date.now() in 60 s steps and accepts those of two steps
    // either side (lib/helpers/challenge.js); every answer to a proof whose nonce is not the current
    // one carries the current one. The clock is faked (Date only: sockets and timers run as usual),
    // so the rotations happen where the test puts them.
    const STEP_MS = 60_000;
    vi.useFakeTimers({ toFake: ["Date"], now: Math.ceil(Date.now() / STEP_MS) * STEP_MS + 59_000 });
    try {
      const c = client(nonced);
      const requestsFor = async (
        audience: string,
        options: { scope?: string; forceRefresh?: boolean } = {},
      ) => {
        nonced.resetCount();
        const token = await c.getToken({ audience, ...options });
        expect(token.tokenType).toBe("DPoP");
        return nonced.requests.map((r) => decodeJwt(r.dpop!));
      };

      // No nonce yet: use_dpop_nonce, then one retry with the server's nonce — and a rotation between
      // the two, so the retry's answer carries the next nonce.
      nonced.provider.once("grant.error", () => vi.advanceTimersByTime(2_000));
      const [none, retry] = await requestsFor(API);
      expect(none!.nonce).toBeUndefined();
      expect(typeof retry!.nonce).toBe("string");
      expect(retry!.jti).not.toBe(none!.jti);
      // Kept per origin: the next token costs one request, with the nonce of the latest answer.
      const [next] = await requestsFor("https://billing.example.com");
      expect(typeof next!.nonce).toBe("string");
      expect(next!.nonce).not.toBe(retry!.nonce);
      expect(await requestsFor(API, { scope: "write:data" })).toMatchObject([{ nonce: next!.nonce }]);

      // A step later the kept nonce is still accepted; the answer carries the new one.
      vi.advanceTimersByTime(STEP_MS);
      expect(await requestsFor(API, { forceRefresh: true })).toMatchObject([{ nonce: next!.nonce }]);
      const [later] = await requestsFor(API, { scope: "read:data write:data" });
      expect([retry!.nonce, next!.nonce]).not.toContain(later!.nonce);

      // Ten steps later the kept nonce has expired: one use_dpop_nonce, one retry with a fresh nonce.
      vi.advanceTimersByTime(10 * STEP_MS);
      const [expired, fresh] = await requestsFor("https://billing.example.com", { forceRefresh: true });
      expect(expired!.nonce).toBe(later!.nonce);
      expect(typeof fresh!.nonce).toBe("string");
      expect(fresh!.nonce).not.toBe(later!.nonce);
      expect(await requestsFor(API, { forceRefresh: true })).toMatchObject([{ nonce: fresh!.nonce }]);
      await c.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    ["ES256", "jwk"],
    ["ES384", "pem"],
    ["Ed25519", "jwk"],
    ["RS256", "pem"],
    ["PS256", "cryptokey"],
  ] as Array<[DpopAlgorithm, string]>)("dpop: { privateKey, alg: %s } from a %s", async (alg, form) => {
    const pair = await generateKeyPair(alg, { extractable: true });
    const privateKey =
      form === "jwk"
        ? await exportJWK(pair.privateKey)
        : form === "pem"
          ? await exportPKCS8(pair.privateKey)
          : pair.privateKey;
    const c = client(plain, { dpop: { privateKey, alg } });
    const token = await c.getToken({ audience: API });
    expect(token.tokenType).toBe("DPoP");
    expect(decodeJwt(token.accessToken).cnf).toEqual({ jkt: await c.dpopThumbprint() });
  });

  it("the key's thumbprint is part of the cache key: a shared store serves a DPoP token only to the key it is bound to", async () => {
    plain.resetCount();
    const store = new MemoryTokenStore();
    const pair = await generateKeyPair("ES256", { extractable: true });
    const shared = { privateKey: await exportJWK(pair.privateKey) };
    await client(plain, { store }).getToken({ audience: API });
    await client(plain, { store }).getToken({ audience: API });
    expect(plain.tokenRequests).toBe(2);
    await client(plain, { store, dpop: shared }).getToken({ audience: API });
    await client(plain, { store, dpop: shared }).getToken({ audience: API });
    expect(plain.tokenRequests).toBe(3);
  });

  it("a Bearer answer to a DPoP request is an error, unless dpop.allowBearer says otherwise", async () => {
    fault.script(tokenReply({ token_type: "Bearer" }));
    const strict = new ClientCredentialsClient({
      tokenEndpoint: fault.tokenEndpoint,
      clientId: "c",
      clientSecret: "s",
      dpop: true,
      retry: false,
    });
    const error = await strict.getToken({ audience: API }).catch((e) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.message).toMatch(/token_type Bearer to a DPoP token request/);
    const lenient = new ClientCredentialsClient({
      tokenEndpoint: fault.tokenEndpoint,
      clientId: "c",
      clientSecret: "s",
      dpop: { allowBearer: true },
    });
    expect((await lenient.getToken({ audience: API })).tokenType).toBe("Bearer");
    expect(fault.requests.at(-1)!.headers.dpop).toBeTypeOf("string");
  });

  it("a bad dpop option is a TypeError naming it", async () => {
    const make = (dpop: unknown) => () =>
      new ClientCredentialsClient({
        tokenEndpoint: plain.tokenEndpoint,
        clientId: "c",
        clientSecret: "s",
        dpop,
      } as never);
    expect(make("yes")).toThrow(/dpop must be/);
    expect(make({ allowBearer: "no" })).toThrow(/dpop.allowBearer/);
    const pub = await exportJWK((await generateKeyPair("ES256", { extractable: true })).publicKey);
    expect(make({ privateKey: pub })).toThrow(/dpop.privateKey is a public JWK/);
    const c = client(plain, { dpop: { privateKey: "not a pem" } });
    await expect(c.getToken({ audience: API })).rejects.toThrow(/dpop.privateKey must be/);
    await expect(client(plain, { dpop: false }).dpopProof("GET", API)).rejects.toThrow(
      /needs the dpop option/,
    );
  });
});
