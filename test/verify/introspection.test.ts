import { createServer } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import {
  ClientCredentialsClient,
  createVerifier,
  generateDpopKey,
  VerifierUnavailableError,
} from "../../src/index.js";
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

function introspecting(
  clock: ManualClock,
  audience: string | null = OPAQUE,
  extra: { requireAudience?: boolean } = {},
) {
  return createVerifier({
    issuer: as.issuer,
    audience,
    clock,
    introspection: {
      clientId: "post-client",
      clientSecret: ODD_SECRET,
      authMethod: "client_secret_post",
      cacheMaxAgeMs: 10_000,
      ...extra,
    },
  });
}

/** oidc-provider's own RFC 7662 answer for a token, asked directly. */
async function introspectionAnswer(token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${as.issuer}/token/introspection`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: "post-client", client_secret: ODD_SECRET }),
  });
  return (await res.json()) as Record<string, unknown>;
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

describe("introspection answers and the audience (RFC 9700 §2.3)", () => {
  it("an answer without aud is refused when an audience is configured, unless requireAudience: false", async () => {
    // No resource indicator: oidc-provider issues an opaque token for no API, and its answer has no aud.
    const token = (await client.getToken({ forceRefresh: true })).accessToken;
    const answer = await introspectionAnswer(token);
    expect(answer).toMatchObject({ active: true, client_id: "basic-client" });
    expect(answer).not.toHaveProperty("aud");

    const error = await introspecting(new ManualClock())
      .verify(token)
      .catch((e) => e);
    expect(error).toMatchObject({ name: "InvalidTokenError", code: "ERR_JWT_AUDIENCE", status: 401 });
    expect(error.message).toMatch(/introspection answer has no aud.*requireAudience/);
    await expect(
      introspecting(new ManualClock(), OPAQUE, { requireAudience: false }).verify(token),
    ).resolves.toMatchObject({ clientId: "basic-client" });
    // No audience configured (audience: null, explicitly): nothing to compare.
    await expect(introspecting(new ManualClock(), null).verify(token)).resolves.toBeTruthy();
    // requireAudience: false still checks an audience that is there.
    const forOpaque = (await client.getToken({ audience: OPAQUE, forceRefresh: true })).accessToken;
    const elsewhere = introspecting(new ManualClock(), "https://elsewhere.example.com", {
      requireAudience: false,
    });
    await expect(elsewhere.verify(forOpaque)).rejects.toMatchObject({ code: "ERR_JWT_AUDIENCE" });
  });

  it("requireAudience must be a boolean", () => {
    expect(() => introspecting(new ManualClock(), OPAQUE, { requireAudience: "no" as never })).toThrow(
      /introspection\.requireAudience must be a boolean/,
    );
  });
});

describe("introspection answers with cnf: a bound opaque token is never a bearer token", () => {
  it("cnf.jkt from oidc-provider's answer: refused by verify(token) and by an API without dpop; accepted with the proof key", async () => {
    const key = await generateDpopKey();
    const bound = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      dpop: { privateKey: key.privateKey, publicKey: key.publicJwk },
    });
    const token = (await bound.getToken({ audience: OPAQUE })).accessToken;
    expect(token.split(".")).toHaveLength(1);
    expect(await introspectionAnswer(token)).toMatchObject({ cnf: { jkt: key.thumbprint } });

    const verifier = introspecting(new ManualClock());
    await expect(verifier.verify(token)).rejects.toMatchObject({
      code: "ERR_DPOP_BOUND_AS_BEARER",
      message: "this API does not accept DPoP-bound access tokens (no dpop option)",
    });
    // The answer is cached: a second refusal comes from the cache, an opt-in is accepted from it.
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: "ERR_DPOP_BOUND_AS_BEARER" });
    await expect(verifier.verify(token, { confirmation: { jkt: key.thumbprint } })).resolves.toMatchObject({
      clientId: "basic-client",
    });

    const app = express();
    app.get("/data", requireAuth(verifier), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    const api = await listen(createServer(app));
    try {
      const res = await fetch(`${api.url}/data`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        error: "invalid_token",
        error_description: "this API does not accept DPoP-bound access tokens (no dpop option)",
      });
    } finally {
      await api.close();
    }
  });
});
