import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientCredentialsClientOptions } from "../../src/index.js";

const base = { issuer: "https://tenant.example.com/", clientId: "id", clientSecret: "secret" };

describe("constructor validation names the option", () => {
  it.each<[string, Partial<ClientCredentialsClientOptions> & Record<string, unknown>, RegExp]>([
    ["missing clientId", { clientId: undefined }, /clientId/],
    ["empty clientId", { clientId: "" }, /clientId/],
    ["no credential", { clientSecret: undefined }, /clientSecret, privateKey or clientAssertion is required/],
    [
      "two credentials",
      { clientAssertion: "a.b.c" },
      /set one credential: clientSecret, privateKey or clientAssertion/,
    ],
    [
      "a number as clientAssertion",
      { clientSecret: undefined, clientAssertion: 42 as never },
      /clientAssertion must be an assertion \(a JWT string\), a function that returns one, or an AssertionSource/,
    ],
    [
      "a clientAssertion source with a bad kind",
      { clientSecret: undefined, clientAssertion: { getAssertion: async () => "", kind: "saml" as never } },
      /clientAssertion\.kind must be "jwt-bearer" or "jwt-spiffe"/,
    ],
    [
      "clientAssertion with another authMethod",
      { clientSecret: undefined, clientAssertion: "a.b.c", authMethod: "client_secret_post" },
      /clientSecret is required for authMethod client_secret_post/,
    ],
    [
      "clientAssertion with tls_client_auth",
      { clientSecret: undefined, clientAssertion: "a.b.c", authMethod: "tls_client_auth" },
      /clientAssertion is sent with authMethod private_key_jwt, not tls_client_auth/,
    ],
    [
      "clientAssertion with assertionAudience",
      { clientSecret: undefined, clientAssertion: "a.b.c", assertionAudience: "tokenEndpoint" },
      /assertionAudience applies to assertions the client signs; a clientAssertion's aud and typ are set by its issuer/,
    ],
    [
      "clientAssertion with keyId",
      { clientSecret: undefined, clientAssertion: "a.b.c", keyId: "k1" },
      /keyId describes the key the client signs with \(privateKey\); a clientAssertion is signed by its issuer/,
    ],
    [
      "clientAssertion with privateKeyAlg",
      { clientSecret: undefined, clientAssertion: "a.b.c", privateKeyAlg: "RS256" },
      /privateKeyAlg describes the key the client signs with \(privateKey\); a clientAssertion is signed by its issuer/,
    ],
    [
      "keyId with a secret",
      { keyId: "k1" },
      /keyId describes the key the client signs with: it needs privateKey/,
    ],
    [
      "assertionAudience with a secret sent as it is",
      { assertionAudience: "tokenEndpoint" },
      /assertionAudience applies to assertions the client signs \(private_key_jwt with privateKey, client_secret_jwt\), and with clientSecret the client signs one only with authMethod client_secret_jwt/,
    ],
    [
      "assertionTyp with client_secret_post",
      { assertionTyp: false, authMethod: "client_secret_post" },
      /assertionTyp applies to assertions the client signs .*, and authMethod client_secret_post signs none/,
    ],
    [
      "assertionAudience with a grant and no client authentication",
      {
        clientSecret: undefined,
        grant: { type: "jwt-bearer", assertion: "a.b.c" },
        assertionAudience: "tokenEndpoint",
      },
      /assertionAudience applies to assertions the client signs .*, and authMethod none signs none/,
    ],
    ["a string as assertionTyp", { assertionTyp: "JWT" as never }, /assertionTyp must be a boolean/],
    [
      "an unknown grant type",
      { grant: { type: "password" } as never },
      /grant\.type must be "token-exchange" or "jwt-bearer"/,
    ],
    [
      "a token-exchange grant without its token type",
      { grant: { type: "token-exchange", subjectToken: "a.b.c" } as never },
      /grant\.subjectTokenType is required/,
    ],
    [
      "a jwt-bearer grant with a subject token",
      { grant: { type: "jwt-bearer", assertion: "a.b.c", subjectToken: "x" } as never },
      /grant\.subjectToken is not an option of a jwt-bearer grant/,
    ],
    [
      "a jwt-bearer grant without its assertion",
      { grant: { type: "jwt-bearer" } as never },
      /grant\.assertion must be an assertion/,
    ],
    [
      "authMethod none without a grant",
      { authMethod: "none" },
      /authMethod none \(client_id only\) is for a grant/,
    ],
    [
      "subject_token as an extra parameter",
      { extraParams: { subject_token: "x" } },
      /extraParams\.subject_token/,
    ],
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
    ["a number as clock", { clock: 5 as never }, /clock must be an object with now\(\)/],
    [
      "a string as allowInsecureHttp",
      { allowInsecureHttp: "yes" as never },
      /allowInsecureHttp must be a boolean/,
    ],
    ["an array as retry", { retry: [] as never }, /retry must be an object or false/],
    ["a fractional retry.retries", { retry: { retries: 1.5 } }, /retry\.retries must be an integer/],
    [
      "retry.minDelayMs above retry.maxDelayMs",
      { retry: { minDelayMs: 5000, maxDelayMs: 100 } },
      /retry\.minDelayMs must not be larger than retry\.maxDelayMs/,
    ],
    [
      "an oct JWK as privateKey",
      { clientSecret: undefined, privateKey: { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQ" } as never },
      /privateKey is a symmetric \(oct\) JWK, not a private key; for client_secret_jwt pass the secret as clientSecret/,
    ],
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
    const signal = await client.getToken({ signal: "x" as never }).catch((e) => e);
    expect(signal).toBeInstanceOf(TypeError);
    expect(signal.message).toBe("signal must be an AbortSignal");
    const invalidate = await client.invalidate(5 as never).catch((e) => e);
    expect(invalidate).toBeInstanceOf(TypeError);
    expect(invalidate.message).toMatch(/^invalidate options must be an object/);
    await expect(client.invalidate({ audience: 5 as never })).rejects.toThrow(/invalidate options\.audience/);
  });

  it.each([
    ["tokenEndpoint", { issuer: undefined, tokenEndpoint: "https://user:pw-S3cret@127.0.0.1:1/token" }],
    ["issuer", { issuer: "https://user:pw-S3cret@tenant.example.com/" }],
    ["tokenEndpoint", { issuer: undefined, tokenEndpoint: "https://only-user@127.0.0.1:1/token" }],
    ["assertionAudience", { assertionAudience: "https://user:pw-S3cret@tenant.example.com/token" }],
  ])("a URL with credentials in %s is a TypeError that does not echo it", (option, overrides) => {
    const error = (() => {
      try {
        new ClientCredentialsClient({ ...base, ...overrides } as ClientCredentialsClientOptions);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toBe(
      `${option} must not contain credentials (user:password@); use clientId and clientSecret`,
    );
    expect(error?.message).not.toContain("pw-S3cret");
  });

  it("String and inspect label a token endpoint as tokenEndpoint, an issuer as issuer", () => {
    const byEndpoint = new ClientCredentialsClient({
      ...base,
      issuer: undefined,
      tokenEndpoint: "https://tenant.example.com/oauth/token",
    });
    expect(String(byEndpoint)).toBe(
      "ClientCredentialsClient { clientId: id, tokenEndpoint: https://tenant.example.com/oauth/token }",
    );
    expect(inspect(byEndpoint)).toBe(String(byEndpoint));
    expect(String(new ClientCredentialsClient(base))).toBe(
      "ClientCredentialsClient { clientId: id, issuer: https://tenant.example.com/ }",
    );
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
