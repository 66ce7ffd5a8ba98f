import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent } from "../../src/index.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { generateClientKeys, ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

let as: RunningProvider;
let server: FaultServer;
beforeAll(async () => {
  as = await startProvider();
  server = await startFaultServer();
});
afterAll(async () => {
  await as.close();
  await server.close();
});

function everything(value: unknown): string {
  return [inspect(value, { depth: 10, showHidden: true }), String(value), JSON.stringify(value)].join("\n");
}

describe("secrets and tokens are never shown", () => {
  it("util.inspect, toString and JSON.stringify of a client hide the secret and the key", async () => {
    const keys = await generateClientKeys();
    const withSecret = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
    });
    const withKey = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      privateKey: keys.rsa.privateJwk,
    });
    await withSecret.getToken({ audience: "https://api.example.com" });
    const shown = everything(withSecret) + everything(withKey);
    expect(shown).toContain("basic-client");
    expect(shown).not.toContain(ODD_SECRET);
    expect(shown).not.toContain(keys.rsa.privateJwk.d);
  });

  it("util.inspect, toString and JSON.stringify of a token hide the token", async () => {
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
    });
    const token = await client.getToken({ audience: "https://api.example.com" });
    expect(token.accessToken.length).toBeGreaterThan(100);
    expect(everything(token)).not.toContain(token.accessToken);
    expect(everything(token)).toContain("Bearer");
  });

  it("events and errors carry neither secret, assertion nor token", async () => {
    const events: ClientEvent[] = [];
    const secret = "ultra-secret-value-%&+";
    server.script(
      { status: 503, body: "" },
      tokenReply({ access_token: "the-access-token-value", expires_in: 60 }),
    );
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "c",
      clientSecret: secret,
      authMethod: "client_secret_jwt",
      retry: { minDelayMs: 1 },
      onEvent: (e) => events.push(e),
    });
    await client.getToken();
    server.script({ status: 401, json: { error: "invalid_client" } });
    const error = await client.getToken({ forceRefresh: true }).catch((e) => e);
    const assertion = new URLSearchParams(server.requests.at(-1)?.body).get("client_assertion");
    expect(assertion).toBeTruthy();
    const shown = everything(events) + everything(error) + String(error.stack);
    for (const hidden of [secret, "the-access-token-value", assertion as string]) {
      expect(shown).not.toContain(hidden);
    }
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["retry", "token_fetched", "token_failed"]),
    );
  });
});
