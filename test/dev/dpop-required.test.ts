/**
 * A dev-server app with `"dpop": true` that asks for a token without a DPoP proof is told why it is
 * refused: the `error_description` says that the app requires DPoP, whatever the client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { ClientCredentialsClient, OAuthError } from "../../src/index.js";

const API = "https://orders.example.com";
const REQUIRES_DPOP =
  'the app "bound" requires DPoP (RFC 9449; "dpop": true in its configuration): send a DPoP proof with the token request';
let dev: DevServer;

beforeAll(async () => {
  dev = await startDevServer({
    config: {
      apis: [{ identifier: API, scopes: ["read:orders"] }],
      apps: [
        { clientId: "bound", clientSecret: "bound-secret", dpop: true, grants: { [API]: ["read:orders"] } },
        { clientId: "plain", clientSecret: "plain-secret", grants: { [API]: ["read:orders"] } },
      ],
    },
  });
});

afterAll(async () => {
  await dev?.close();
});

describe("an app that requires DPoP", () => {
  it("the client without dpop gets invalid_grant saying that the app requires DPoP", async () => {
    const client = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "bound",
      clientSecret: "bound-secret",
      retry: false,
    });
    const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ error: "invalid_grant", errorDescription: REQUIRES_DPOP, status: 400 });
    expect((error as Error).message).not.toContain("bound-secret");
  });

  it("a plain form POST (curl) gets the same answer", async () => {
    const response = await fetch(dev.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: "bound",
        client_secret: "bound-secret",
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_grant", error_description: REQUIRES_DPOP });
  });

  it("with dpop: true the same app gets a DPoP-bound token", async () => {
    const client = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "bound",
      clientSecret: "bound-secret",
      dpop: true,
    });
    const token = await client.getToken({ audience: API });
    await client.close();
    expect(token.tokenType).toBe("DPoP");
  });

  it("other refusals keep their own description (a wrong secret, another app)", async () => {
    const wrong = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "bound",
      clientSecret: "not-the-secret",
      retry: false,
    });
    const error = await wrong.getToken({ audience: API }).catch((e: unknown) => e);
    await wrong.close();
    expect(error).toMatchObject({ error: "invalid_client" });
    expect((error as OAuthError).errorDescription).not.toContain("DPoP");
    const plain = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "plain",
      clientSecret: "plain-secret",
    });
    expect((await plain.getToken({ audience: API })).tokenType).toBe("Bearer");
    await plain.close();
  });
});
