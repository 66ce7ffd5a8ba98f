/**
 * draft-ietf-oauth-rfc7523bis, as the authorization server receives it: the assertions the client signs
 * itself (private_key_jwt, client_secret_jwt) carry `aud` = the issuer identifier as one string and
 * `typ: client-authentication+jwt`; with only `tokenEndpoint` configured, `aud` is the token endpoint;
 * `assertionAudience: "tokenEndpoint"` and `assertionTyp: false` restore RFC 7523's old form; a
 * provider preset states its provider's rule. oidc-provider's `assertJwtClientAuthClaimsAndHeader`
 * hook records what it verified.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientCredentialsClientOptions } from "../../src/index.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  LONG_SECRET,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";

const API = "https://api.example.com";
let as: RunningProvider;
let keys: ClientKeys;
const received: Array<{ aud: unknown; typ: unknown }> = [];

beforeAll(async () => {
  keys = await generateClientKeys();
  as = await startProvider({
    clients: defaultClients(keys),
    assertClientAssertion: (claims, header) => {
      received.push({ aud: claims.aud, typ: header.typ });
    },
  });
});
afterAll(() => as.close());

/** What the server received for one token request of a new client with these options. */
async function receivedFor(options: Partial<ClientCredentialsClientOptions>) {
  received.length = 0;
  const client = new ClientCredentialsClient({ issuer: as.issuer, clientId: "rsa-client", ...options });
  await client.getToken({ audience: API });
  await client.close();
  expect(received).toHaveLength(1);
  return received[0];
}

describe("assertions the client signs (RFC 7523bis)", () => {
  it("private_key_jwt: aud is the issuer identifier (one string), typ client-authentication+jwt", async () => {
    expect(await receivedFor({ privateKey: keys.rsa.privateJwk })).toEqual({
      aud: as.issuer,
      typ: "client-authentication+jwt",
    });
  });

  it("client_secret_jwt: the same", async () => {
    expect(
      await receivedFor({
        clientId: "hs-client",
        clientSecret: LONG_SECRET,
        authMethod: "client_secret_jwt",
      }),
    ).toEqual({ aud: as.issuer, typ: "client-authentication+jwt" });
  });

  it("with only tokenEndpoint configured, aud is the token endpoint", async () => {
    expect(
      await receivedFor({
        issuer: undefined,
        tokenEndpoint: as.tokenEndpoint,
        privateKey: keys.rsa.privateJwk,
      }),
    ).toEqual({ aud: as.tokenEndpoint, typ: "client-authentication+jwt" });
  });

  it('assertionAudience: "tokenEndpoint" and assertionTyp: false restore the old form', async () => {
    expect(
      await receivedFor({
        privateKey: keys.rsa.privateJwk,
        assertionAudience: "tokenEndpoint",
        assertionTyp: false,
      }),
    ).toEqual({ aud: as.tokenEndpoint, typ: "JWT" });
    expect(
      await receivedFor({
        clientId: "hs-client",
        clientSecret: LONG_SECRET,
        authMethod: "client_secret_jwt",
        assertionAudience: "tokenEndpoint",
      }),
    ).toEqual({ aud: as.tokenEndpoint, typ: "client-authentication+jwt" });
  });

  it("a provider preset states its provider's rule: Okta and Entra document the token endpoint, Auth0 the issuer", async () => {
    expect(await receivedFor({ privateKey: keys.rsa.privateJwk, provider: "okta" })).toEqual({
      aud: as.tokenEndpoint,
      typ: "JWT",
    });
    expect(await receivedFor({ privateKey: keys.rsa.privateJwk, provider: "auth0" })).toEqual({
      aud: as.issuer,
      typ: "client-authentication+jwt",
    });
    // An explicit option beats the preset.
    expect(
      await receivedFor({ privateKey: keys.rsa.privateJwk, provider: "okta", assertionAudience: "issuer" }),
    ).toEqual({ aud: as.issuer, typ: "JWT" });
  });
});
