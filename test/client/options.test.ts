import { describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientCredentialsClientOptions } from "../../src/index.js";

const base = { issuer: "https://tenant.example.com/", clientId: "id", clientSecret: "secret" };

describe("constructor validation names the option", () => {
  it.each<[string, Partial<ClientCredentialsClientOptions> & Record<string, unknown>, RegExp]>([
    ["missing clientId", { clientId: undefined }, /clientId/],
    ["empty clientId", { clientId: "" }, /clientId/],
    ["no credential", { clientSecret: undefined }, /clientSecret or privateKey/],
    ["no issuer or endpoint", { issuer: undefined }, /issuer or tokenEndpoint/],
    ["malformed issuer", { issuer: "not a url" }, /issuer is not a valid URL/],
    ["http issuer off loopback", { issuer: "http://auth.example.com/" }, /issuer uses http:/],
    ["ftp endpoint", { tokenEndpoint: "ftp://x/token" }, /tokenEndpoint must be an https: URL/],
    ["bad timeout", { timeoutMs: -1 }, /timeoutMs/],
    ["bad retry field", { retry: { retries: Number.NaN } }, /retry\.retries/],
    ["unknown authMethod", { authMethod: "magic" as never }, /authMethod must be one of/],
    ["unknown provider", { provider: "acme" as never }, /provider must be one of/],
    ["bad audienceParam", { audienceParam: "aud" as never }, /audienceParam/],
    [
      "post without secret",
      {
        clientSecret: undefined,
        privateKey: "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----",
        authMethod: "client_secret_post",
      },
      /clientSecret is required for authMethod client_secret_post/,
    ],
    [
      "PKCS#1 PEM",
      { privateKey: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----" },
      /PKCS#8/,
    ],
    ["public JWK as private key", { privateKey: { kty: "RSA", n: "abc", e: "AQAB" } }, /public JWK/],
    ["reserved extraParams", { extraParams: { client_secret: "x" } }, /extraParams.client_secret/],
    ["non-string extraParams", { extraParams: { foo: 1 as never } }, /extraParams.foo/],
    ["bad scope token", { defaultScope: 'read "data"' }, /defaultScope/],
    ["non-function fetch", { fetch: "fetch" as never }, /fetch must be a function/],
    ["store without methods", { store: {} as never }, /store/],
  ])("%s", (_name, overrides, message) => {
    const create = () =>
      new ClientCredentialsClient({ ...base, ...overrides } as ClientCredentialsClientOptions);
    expect(create).toThrow(TypeError);
    expect(create).toThrow(message);
  });

  it("http: is fine on loopback, and elsewhere only with allowInsecureHttp", () => {
    expect(() => new ClientCredentialsClient({ ...base, issuer: "http://127.0.0.1:8080" })).not.toThrow();
    expect(() => new ClientCredentialsClient({ ...base, issuer: "http://localhost:8080/" })).not.toThrow();
    expect(
      () =>
        new ClientCredentialsClient({ ...base, issuer: "http://auth.internal/", allowInsecureHttp: true }),
    ).not.toThrow();
  });

  it("a bad per-call option is a TypeError, not a crash deep inside", async () => {
    const client = new ClientCredentialsClient({
      ...base,
      tokenEndpoint: "https://tenant.example.com/token",
    });
    await expect(client.getToken({ scope: 42 as never })).rejects.toThrow(/scope must be a string/);
    await expect(client.getToken({ audience: "" })).rejects.toThrow(/audience/);
  });
});

describe("provider presets", () => {
  it.each([
    ["https://acme.eu.auth0.com/", "audience"],
    ["https://acme.kinde.com", "audience"],
    ["https://acme.authgear.cloud", "resource"],
    ["https://api.asgardeo.io/t/acme/oauth2/token", "none"],
    ["https://login.microsoftonline.com/tid/v2.0", "none"],
    ["https://acme.okta.com/oauth2/default", "none"],
    ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "none"],
    ["https://auth.example.com/", "resource"],
  ])("%s → audienceParam %s", (issuer, expected) => {
    expect(new ClientCredentialsClient({ ...base, issuer }).audienceParam).toBe(expected);
  });

  it("an explicit option wins over the preset", () => {
    const client = new ClientCredentialsClient({ ...base, provider: "auth0", audienceParam: "resource" });
    expect(client.audienceParam).toBe("resource");
  });
});
