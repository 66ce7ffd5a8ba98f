import { decodeJwt, decodeProtectedHeader, exportPKCS8 } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, OAuthError } from "../../src/index.js";
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
let as: RunningProvider;
let keys: ClientKeys;

beforeAll(async () => {
  keys = await generateClientKeys();
  as = await startProvider({ clients: defaultClients(keys) });
});
afterAll(() => as.close());

function expectTokenFor(accessToken: string, clientId: string, scope: string) {
  const claims = decodeJwt(accessToken);
  expect(claims.iss).toBe(as.issuer);
  expect(claims.aud).toBe(API);
  expect(claims.client_id).toBe(clientId);
  expect(claims.scope).toBe(scope);
}

describe("client authentication against oidc-provider", () => {
  it("client_secret_basic form-encodes an id and secret with odd characters (RFC 6749 §2.3.1)", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      authMethod: "client_secret_basic",
    });
    const token = await client.getToken({ audience: API, scope: ["read:data"] });
    expectTokenFor(token.accessToken, "basic-client", "read:data");
    expect(token.tokenType).toBe("Bearer");
    expect(token.scope).toEqual(["read:data"]);
    expect(token.audience).toBe(API);
  });

  it("defaults to client_secret_basic when discovery lists it", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
    });
    const token = await client.getToken({ audience: API, scope: "read:data write:data" });
    expectTokenFor(token.accessToken, "basic-client", "read:data write:data");
  });

  it("the Basic header carries the form-encoded id and secret", async () => {
    as.resetCount();
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
    });
    await client.getToken({ audience: API });
    const header = as.requests[0]?.authorization ?? "";
    expect(atob(header.replace(/^Basic /, ""))).toBe("basic-client:s3cr%2Bt%2Fwith%3Dodd%3Achars%25%26");
    expect(as.requests[0]?.params.get("client_secret")).toBeNull();
  });

  it("client_secret_post", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "post-client",
      clientSecret: ODD_SECRET,
      authMethod: "client_secret_post",
    });
    expectTokenFor(
      (await client.getToken({ audience: API, scope: "read:data" })).accessToken,
      "post-client",
      "read:data",
    );
  });

  it("a wrong secret is an OAuthError invalid_client", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: `${ODD_SECRET}x`,
    });
    const error = await client.getToken({ audience: API }).catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.code).toBe("ERR_OAUTH");
    expect(error.error).toBe("invalid_client");
    expect(error.status).toBe(401);
    expect(String(error.message)).not.toContain(ODD_SECRET);
  });

  it("client_secret_jwt signs an HS256 assertion with the secret", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "hs-client",
      clientSecret: LONG_SECRET,
      authMethod: "client_secret_jwt",
    });
    expectTokenFor(
      (await client.getToken({ audience: API, scope: "read:data" })).accessToken,
      "hs-client",
      "read:data",
    );
  });

  it("private_key_jwt with a JWK (RS256), the default method when a key is given", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      privateKey: keys.rsa.privateJwk,
    });
    expectTokenFor(
      (await client.getToken({ audience: API, scope: "read:data" })).accessToken,
      "rsa-client",
      "read:data",
    );
  });

  it("private_key_jwt assertions follow RFC 7523bis: iss = sub = client id, aud the issuer, typed, unique jti, short exp, kid", async () => {
    as.resetCount();
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      privateKey: keys.rsa.privateJwk,
    });
    await client.getToken({ audience: API });
    await client.getToken({ audience: API, forceRefresh: true });
    const assertions = as.requests.map((r) => r.params.get("client_assertion") as string);
    expect(as.requests[0]?.params.get("client_assertion_type")).toBe(
      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    const claims = assertions.map((a) => decodeJwt(a));
    for (const c of claims) {
      expect(c.iss).toBe("rsa-client");
      expect(c.sub).toBe("rsa-client");
      expect(c.aud).toBe(as.issuer);
      expect((c.exp as number) - (c.iat as number)).toBeLessThanOrEqual(60);
    }
    expect(claims[0]?.jti).not.toBe(claims[1]?.jti);
    expect(decodeProtectedHeader(assertions[0] as string)).toMatchObject({
      alg: "RS256",
      kid: "rsa-1",
      typ: "client-authentication+jwt",
    });
  });

  it("private_key_jwt with a PKCS#8 PEM (alg inferred) and with a CryptoKey", async () => {
    const pem = await exportPKCS8(keys.ec.privateKey);
    const fromPem = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "ec-client",
      privateKey: pem,
      keyId: "ec-1",
    });
    expectTokenFor(
      (await fromPem.getToken({ audience: API, scope: "read:data" })).accessToken,
      "ec-client",
      "read:data",
    );
    const fromKey = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      privateKey: keys.rsa.privateKey,
      keyId: "rsa-1",
      assertionAudience: "issuer",
    });
    expectTokenFor(
      (await fromKey.getToken({ audience: API, scope: "read:data" })).accessToken,
      "rsa-client",
      "read:data",
    );
  });

  it("private_key_jwt with a key the server does not know is invalid_client", async () => {
    const other = await generateClientKeys();
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      privateKey: other.rsa.privateJwk,
    });
    const error = await client.getToken({ audience: API }).catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.error).toBe("invalid_client");
  });
});

describe("target API parameter", () => {
  it('audienceParam "resource" (RFC 8707) selects the API and its scopes', async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      audienceParam: "resource",
    });
    const billing = await client.getToken({
      audience: "https://billing.example.com",
      scope: "read:invoices",
    });
    expect(decodeJwt(billing.accessToken).aud).toBe("https://billing.example.com");
    expect(decodeJwt(billing.accessToken).scope).toBe("read:invoices");
  });

  it('audienceParam "audience" (Auth0/Kinde style) gets a token for that API', async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "post-client",
      clientSecret: ODD_SECRET,
      provider: "auth0",
    });
    expect(client.audienceParam).toBe("audience");
    const token = await client.getToken({ audience: API, scope: "write:data" });
    expectTokenFor(token.accessToken, "post-client", "write:data");
  });

  it("an unknown resource is an OAuthError invalid_target", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
    });
    const error = await client.getToken({ audience: "https://unknown.example.com" }).catch((e) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error.error).toBe("invalid_target");
  });

  it.each(["audience", "resource"])(
    "extraParams.%s is refused: a token for another API would be labelled and sent as the one asked for",
    (name) => {
      const make = () =>
        new ClientCredentialsClient({
          issuer: as.issuer,
          clientId: "basic-client",
          clientSecret: ODD_SECRET,
          audienceParam: "none",
          extraParams: { [name]: "https://billing.example.com" },
        });
      expect(make).toThrow(TypeError);
      expect(make).toThrow(`extraParams.${name} names the target of each token request`);
    },
  );

  it("the audience of every call: defaultAudience, sent as audienceParam says", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      audienceParam: "audience",
      defaultAudience: "https://billing.example.com",
    });
    const token = await client.getToken({ scope: "read:invoices" });
    expect(decodeJwt(token.accessToken).aud).toBe("https://billing.example.com");
    expect(token.audience).toBe("https://billing.example.com");
    const orders = await client.getToken({ audience: API, scope: "read:data" });
    expect(decodeJwt(orders.accessToken).aud).toBe(API);
  });
});
