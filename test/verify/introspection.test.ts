import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, createVerifier, VerifierUnavailableError } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const OPAQUE = "https://opaque.example.com";
const JWT_API = "https://api.example.com";
let as: RunningProvider;
let client: ClientCredentialsClient;

beforeAll(async () => {
  as = await startProvider({
    apis: [
      { identifier: OPAQUE, scopes: ["read:data", "write:data"], format: "opaque" },
      { identifier: JWT_API, scopes: ["read:data"] },
    ],
  });
  client = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "basic-client",
    clientSecret: ODD_SECRET,
  });
});
afterAll(() => as.close());

function introspecting(clock: ManualClock, audience = OPAQUE) {
  return createVerifier({
    issuer: as.issuer,
    audience,
    clock,
    introspection: {
      clientId: "post-client",
      clientSecret: ODD_SECRET,
      authMethod: "client_secret_post",
      cacheMaxAgeMs: 10_000,
    },
  });
}

async function revoke(token: string) {
  const res = await fetch(`${as.issuer}/token/revocation`, {
    method: "POST",
    headers: {
      authorization: `Basic ${btoa(`basic-client:${encodeURIComponent(ODD_SECRET)}`)}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token, token_type_hint: "access_token" }),
  });
  expect(res.status).toBe(200);
}

describe("RFC 7662 introspection of opaque tokens (oidc-provider's own endpoint)", () => {
  it("N verifications of one opaque token cost one introspection; revocation is seen after the cache bound", async () => {
    const clock = new ManualClock();
    const verifier = introspecting(clock);
    const token = (await client.getToken({ audience: OPAQUE, scope: "read:data" })).accessToken;
    expect(token.split(".")).toHaveLength(1);
    const before = as.introspectionRequests;
    for (let i = 0; i < 20; i++) {
      const auth = await verifier.verify(token, { requiredScopes: ["read:data"] });
      expect(auth.clientId).toBe("basic-client");
      expect(auth.scopes).toEqual(["read:data"]);
    }
    expect(as.introspectionRequests - before).toBe(1);
    await expect(verifier.verify(token, { requiredScopes: ["write:data"] })).rejects.toMatchObject({
      code: "ERR_INSUFFICIENT_SCOPE",
    });

    await revoke(token);
    // Within the cache bound the earlier answer stands…
    clock.advance(9_000);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
    // …after it, the revocation is seen.
    clock.advance(1_001);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: "ERR_TOKEN_INACTIVE", status: 401 });
    expect(as.introspectionRequests - before).toBe(2);
  });

  it("concurrent verifications of a new token share one introspection request", async () => {
    const verifier = introspecting(new ManualClock());
    const token = (await client.getToken({ audience: OPAQUE, forceRefresh: true })).accessToken;
    const before = as.introspectionRequests;
    const results = await Promise.all(Array.from({ length: 25 }, () => verifier.verify(token)));
    expect(results.every((r) => r.clientId === "basic-client")).toBe(true);
    expect(as.introspectionRequests - before).toBe(1);
  });

  it("an unknown opaque token is inactive; the audience is checked when the answer has one", async () => {
    const verifier = introspecting(new ManualClock());
    await expect(verifier.verify("not-a-token-the-server-issued")).rejects.toMatchObject({
      code: "ERR_TOKEN_INACTIVE",
    });
    const token = (await client.getToken({ audience: OPAQUE, forceRefresh: true })).accessToken;
    const other = introspecting(new ManualClock(), "https://elsewhere.example.com");
    await expect(other.verify(token)).rejects.toMatchObject({ code: "ERR_JWT_AUDIENCE" });
  });

  it("JWTs are still verified locally, without introspection", async () => {
    const verifier = introspecting(new ManualClock(), JWT_API);
    const jwt = (await client.getToken({ audience: JWT_API })).accessToken;
    const before = as.introspectionRequests;
    await expect(verifier.verify(jwt)).resolves.toMatchObject({ clientId: "basic-client" });
    expect(as.introspectionRequests).toBe(before);
  });

  it("introspection endpoint down → VerifierUnavailableError (503), not an invalid token", async () => {
    const dead = await listen(createServer());
    await dead.close();
    const verifier = createVerifier({
      issuer: as.issuer,
      audience: OPAQUE,
      introspection: {
        endpoint: `${dead.url}/introspect`,
        clientId: "post-client",
        clientSecret: ODD_SECRET,
      },
    });
    const error = await verifier.verify("opaque-token-value").catch((e) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);
    expect(error.status).toBe(503);
    const wrongSecret = createVerifier({
      issuer: as.issuer,
      audience: OPAQUE,
      introspection: { clientId: "post-client", clientSecret: "wrong", authMethod: "client_secret_post" },
    });
    await expect(wrongSecret.verify("opaque-token-value")).rejects.toBeInstanceOf(VerifierUnavailableError);
  });
});
