import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("a provider that requires a nonce: exactly 2 requests for the first token, 1 for the next (the nonce is kept per origin)", async () => {
    nonced.resetCount();
    const c = client(nonced);
    const token = await c.getToken({ audience: API });
    expect(token.tokenType).toBe("DPoP");
    expect(nonced.tokenRequests).toBe(2);
    const [first, second] = nonced.requests.map((r) => decodeJwt(r.dpop!));
    expect(first!.nonce).toBeUndefined();
    expect(typeof second!.nonce).toBe("string");
    expect(second!.jti).not.toBe(first!.jti);
    nonced.resetCount();
    await c.getToken({ audience: "https://billing.example.com" });
    expect(nonced.tokenRequests).toBe(1);
    expect(decodeJwt(nonced.requests[0]!.dpop!).nonce).toBe(second!.nonce);
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
