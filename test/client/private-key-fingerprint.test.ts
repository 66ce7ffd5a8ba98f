/**
 * A private key's fingerprint tells two private keys apart, not only two public keys: a JWK whose
 * public members are the registered key's but whose private part is not (a damaged key file, `d`
 * pasted from another key) cannot sign for the client, and must not receive, from a shared store, the
 * token the right key obtained. The same key in another form (PEM, CryptoKey) still shares.
 */
import { exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  MemoryTokenStore,
} from "../../src/index.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";

const TARGET = { audience: "https://api.example.com", scope: "read:data" };
let provider: RunningProvider;
let keys: ClientKeys;

beforeAll(async () => {
  keys = await generateClientKeys();
  provider = await startProvider({ clients: defaultClients(keys) });
});

afterAll(async () => {
  await provider?.close();
});

function client(store: MemoryTokenStore, options: Partial<ClientCredentialsClientOptions>) {
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "ec-client",
    retry: false,
    store,
    ...options,
  } as ClientCredentialsClientOptions);
}

describe("a private JWK with the registered public key and another private part", () => {
  it("gets invalid_client, not the token the right key obtained; the same key as a PEM shares", async () => {
    const store = new MemoryTokenStore();
    await client(store, { privateKey: keys.ec.privateJwk }).getToken(TARGET);
    expect(provider.tokenRequests).toBe(1);

    const other = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey);
    const damaged = { ...keys.ec.privateJwk, d: other.d };
    const error = await client(store, { privateKey: damaged })
      .getToken(TARGET)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: expect.stringMatching(/^ERR_/) });
    expect(provider.tokenRequests).toBeGreaterThanOrEqual(1);

    const before = provider.tokenRequests;
    await client(store, { privateKey: await exportPKCS8(keys.ec.privateKey) }).getToken(TARGET);
    await client(store, { privateKey: keys.ec.privateKey }).getToken(TARGET);
    expect(provider.tokenRequests).toBe(before);
  });
});
