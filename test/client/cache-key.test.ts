/**
 * The cache key holds everything that changes which token the server issues or who may use it.
 * Clients sharing one store (here one `TokenStore` object, as processes share Redis or a file)
 * against oidc-provider: another tenant (`extraParams`), private key, authentication method or DPoP
 * key never receives a token another one obtained; a key never holds the secret.
 */
import { exportPKCS8, generateKeyPair } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  MemoryTokenStore,
  type StoredToken,
  type TokenStore,
} from "../../src/index.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  LONG_SECRET,
  ODD_SECRET,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";

const API = "https://api.example.com";
const TARGET = { audience: API, scope: "read:data" };

let provider: RunningProvider;
let keys: ClientKeys;

beforeAll(async () => {
  keys = await generateClientKeys();
  provider = await startProvider({ clients: defaultClients(keys) });
});

afterAll(async () => {
  await provider?.close();
});

beforeEach(() => {
  provider.resetCount();
});

function client(store: TokenStore, options: Partial<ClientCredentialsClientOptions>) {
  return new ClientCredentialsClient({
    tokenEndpoint: provider.tokenEndpoint,
    clientId: "basic-client",
    ...options,
    store,
  } as ClientCredentialsClientOptions);
}

/** A store without a keyed hash of its own: the client fingerprints secrets with PBKDF2. */
class RecordingStore implements TokenStore {
  readonly entries = new Map<string, StoredToken>();
  get(key: string) {
    return this.entries.get(key);
  }
  set(key: string, token: StoredToken) {
    this.entries.set(key, token);
  }
  delete(key: string) {
    this.entries.delete(key);
  }
}

describe("clients sharing one store", () => {
  it("another extraParams tenant gets its own token", async () => {
    const store = new MemoryTokenStore();
    const a = await client(store, {
      clientSecret: ODD_SECRET,
      extraParams: { organization: "org_a" },
    }).getToken(TARGET);
    const b = await client(store, {
      clientSecret: ODD_SECRET,
      extraParams: { organization: "org_b" },
    }).getToken(TARGET);
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(provider.requests.map((r) => r.params.get("organization"))).toEqual(["org_a", "org_b"]);
  });

  it("a private key the server does not know gets invalid_client, not the token the right key obtained", async () => {
    const store = new MemoryTokenStore();
    const right = client(store, { clientId: "rsa-client", privateKey: keys.rsa.privateJwk });
    await right.getToken(TARGET);
    const other = await generateKeyPair("RS256", { extractable: true });
    const wrong = client(store, { clientId: "rsa-client", privateKey: other.privateKey, retry: false });
    await expect(wrong.getToken(TARGET)).rejects.toMatchObject({
      code: "ERR_OAUTH",
      error: "invalid_client",
    });
    expect(provider.tokenRequests).toBe(2);
    // The same key as a PEM, or as a CryptoKey, is the same credential (its JWK thumbprint): it shares.
    const pem = await exportPKCS8(keys.rsa.privateKey);
    await client(store, { clientId: "rsa-client", privateKey: pem }).getToken(TARGET);
    await client(store, { clientId: "rsa-client", privateKey: keys.rsa.privateKey }).getToken(TARGET);
    expect(provider.tokenRequests).toBe(2);
  });

  it("another authentication method gets its own answer (client_secret_jwt registered, basic refused)", async () => {
    const store = new MemoryTokenStore();
    const options = { clientId: "hs-client", clientSecret: LONG_SECRET };
    await client(store, { ...options, authMethod: "client_secret_jwt" }).getToken(TARGET);
    const basic = client(store, { ...options, authMethod: "client_secret_basic", retry: false });
    await expect(basic.getToken(TARGET)).rejects.toMatchObject({
      code: "ERR_OAUTH",
      error: "invalid_client",
    });
    expect(provider.tokenRequests).toBe(2);
  });

  it("a DPoP client never takes a Bearer token from the store, nor a Bearer client a DPoP one", async () => {
    const store = new MemoryTokenStore();
    const bearer = await client(store, { clientSecret: ODD_SECRET }).getToken(TARGET);
    const bound = await client(store, { clientSecret: ODD_SECRET, dpop: true }).getToken(TARGET);
    expect(bound.tokenType).toBe("DPoP");
    expect(bound.accessToken).not.toBe(bearer.accessToken);
    expect(provider.tokenRequests).toBe(2);
  });

  it("without a keyed hash in the store: two secrets never share, and no key holds the secret", async () => {
    const store = new RecordingStore();
    const right = await client(store, { clientSecret: ODD_SECRET }).getToken(TARGET);
    const wrong = client(store, { clientSecret: `${ODD_SECRET}-typo`, retry: false });
    await expect(wrong.getToken(TARGET)).rejects.toMatchObject({ error: "invalid_client" });
    const again = await client(store, { clientSecret: ODD_SECRET }).getToken(TARGET);
    expect(again.accessToken).toBe(right.accessToken);
    expect(provider.tokenRequests).toBe(2);
    const [key] = [...store.entries.keys()];
    expect(key).toMatch(/pbkdf2:/);
    for (const form of [ODD_SECRET, encodeURIComponent(ODD_SECRET), btoa(ODD_SECRET)]) {
      expect(key).not.toContain(form);
    }
  });
});
