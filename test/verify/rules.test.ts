import { afterAll, describe, expect, it } from "vitest";
import { createVerifier, type VerifierOptions } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
const OTHER = "https://other.example.com";
const servers: KeyServer[] = [];

async function keyServer() {
  const ks = await startKeyServer();
  servers.push(ks);
  return ks;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "verified",
    (e) => e.code ?? String(e),
  );
}

/** Twice: the second verification of a token is the one that enters the verified-token cache. */
async function cache(v: ReturnType<typeof createVerifier>, token: string, options?: object) {
  await v.verify(token, options);
  await v.verify(token, options);
}

describe("a cache hit re-runs every check that depends on configuration or the call", () => {
  it("audience: a token cached through a per-call audience is refused by a plain verify", async () => {
    const ks = await keyServer();
    const v = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const token = await ks.sign({ aud: OTHER });
    await cache(v, token, { audience: OTHER });
    expect(await codeOf(v.verify(token, { audience: OTHER }))).toBe("verified");
    expect(await codeOf(v.verify(token))).toBe("ERR_JWT_AUDIENCE");
    const fresh = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    expect(await codeOf(fresh.verify(token))).toBe("ERR_JWT_AUDIENCE");
  });

  it("audience the other way: cached by a plain verify, refused for another call audience", async () => {
    const ks = await keyServer();
    const v = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const token = await ks.sign();
    await cache(v, token);
    expect(await codeOf(v.verify(token, { audience: OTHER }))).toBe("ERR_JWT_AUDIENCE");
  });

  it("scopes, age, expiry and claim predicates are evaluated on every hit", async () => {
    const ks = await keyServer();
    const clock = new ManualClock();
    let allowed = true;
    const v = createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwksUri: ks.jwksUri,
      clock,
      maxTokenAgeSeconds: 600,
      claims: { client_id: () => allowed },
    });
    const token = await ks.sign({ scope: "read", client_id: "svc" }, { now: clock.now() });
    await cache(v, token);
    expect(await codeOf(v.verify(token, { requiredScopes: "write" }))).toBe("ERR_INSUFFICIENT_SCOPE");
    allowed = false;
    expect(await codeOf(v.verify(token))).toBe("ERR_CLAIM_POLICY");
    allowed = true;
    clock.advance(700_000);
    expect(await codeOf(v.verify(token))).toBe("ERR_JWT_TOO_OLD");
    clock.advance(3_000_000);
    expect(await codeOf(v.verify(token))).toBe("ERR_JWT_EXPIRED");
  });

  it("per-issuer rules: a token cached under one issuer's rules is not accepted under another's", async () => {
    const a = await keyServer();
    const v = createVerifier({
      issuers: [{ issuer: a.issuer, audience: API, jwksUri: a.jwksUri, requireTyp: true }],
    });
    const token = await a.sign({}, { header: { typ: "at+jwt" } });
    await cache(v, token);
    expect(await codeOf(v.verify(token))).toBe("verified");
    expect(await codeOf(v.verify(await a.sign({ jti: "b" })))).toBe("ERR_JWT_TYP");
  });
});

describe("roles belong to an API (Keycloak)", () => {
  const claims = {
    aud: ["orders-api", "account"],
    realm_access: { roles: ["offline_access"] },
    resource_access: {
      "orders-api": { roles: ["orders:read"] },
      "billing-api": { roles: ["billing:admin"] },
    },
  };

  it("only the audience's client roles and realm roles count", async () => {
    const ks = await keyServer();
    const v = createVerifier({
      issuer: ks.issuer,
      audience: "orders-api",
      jwksUri: ks.jwksUri,
      provider: "keycloak",
    });
    const token = await ks.sign(claims);
    const auth = await v.verify(token);
    expect([...auth.scopes].sort()).toEqual(["offline_access", "orders:read"]);
    expect(await codeOf(v.verify(token, { requiredScopes: "billing:admin" }))).toBe("ERR_INSUFFICIENT_SCOPE");
    expect(await codeOf(v.verify(token, { requiredScopes: "orders:read" }))).toBe("verified");
  });

  it("resourceClientId names the client when the audience is another value; dotted client ids work", async () => {
    const ks = await keyServer();
    const token = await ks.sign({
      aud: API,
      resource_access: { "api.example.com": { roles: ["write"] }, other: { roles: ["admin"] } },
    });
    const v = createVerifier({
      issuer: ks.issuer,
      audience: API,
      jwksUri: ks.jwksUri,
      provider: "keycloak",
      resourceClientId: "api.example.com",
    });
    expect((await v.verify(token)).scopes).toEqual(["write"]);
  });
});

describe("several issuers, each with its own rules", () => {
  it("the token's iss picks the rules before any key is fetched", async () => {
    const cognito = await keyServer();
    const auth0 = await keyServer();
    const v = createVerifier({
      issuers: [
        { issuer: cognito.issuer, audience: "app-client-id", provider: "cognito", jwksUri: cognito.jwksUri },
        { issuer: auth0.issuer, audience: API, provider: "auth0", jwksUri: auth0.jwksUri },
      ],
    });
    const cognitoToken = await cognito.sign({
      aud: undefined,
      client_id: "app-client-id",
      token_use: "access",
      scope: "orders/read",
    });
    const auth0Token = await auth0.sign({ permissions: ["read:orders"] });
    expect((await v.verify(cognitoToken)).scopes).toEqual(["orders/read"]);
    expect((await v.verify(auth0Token)).scopes).toEqual(["read:orders"]);
    // Wrong-audience twins.
    expect(
      await codeOf(v.verify(await cognito.sign({ aud: undefined, client_id: "other", token_use: "access" }))),
    ).toBe("ERR_JWT_AUDIENCE");
    expect(await codeOf(v.verify(await auth0.sign({ aud: OTHER })))).toBe("ERR_JWT_AUDIENCE");
    // Auth0's audience rule does not apply to Cognito tokens, and the other way round.
    expect(await codeOf(v.verify(await cognito.sign({ aud: API, token_use: "access" })))).toBe(
      "ERR_JWT_AUDIENCE",
    );
    expect(await codeOf(v.verify(await auth0.sign({ aud: undefined, client_id: "app-client-id" })))).toBe(
      "ERR_JWT_AUDIENCE",
    );
    // Cognito's claim policy (token_use) belongs to Cognito only.
    expect(
      await codeOf(
        v.verify(await cognito.sign({ aud: undefined, client_id: "app-client-id", token_use: "id" })),
      ),
    ).toBe("ERR_CLAIM_POLICY");
    // A token signed by one issuer's key but naming the other issuer.
    expect(await codeOf(v.verify(await cognito.sign({ iss: auth0.issuer })))).toBe(
      "ERR_JWKS_NO_MATCHING_KEY",
    );
    const fetches = cognito.jwksFetches + auth0.jwksFetches;
    expect(await codeOf(v.verify(await auth0.sign({ iss: "https://unknown.example.com/" })))).toBe(
      "ERR_JWT_ISSUER",
    );
    expect(cognito.jwksFetches + auth0.jwksFetches).toBe(fetches);
  });

  it("bad entries are TypeErrors that name them", () => {
    expect(() => createVerifier({ issuers: [] } as unknown as VerifierOptions)).toThrow(/issuers must be/);
    expect(() =>
      createVerifier({ issuers: [{ issuer: "https://a.example.com/" }] } as unknown as VerifierOptions),
    ).toThrow(/issuers\[0\]\.audience is required/);
    expect(() =>
      createVerifier({
        issuers: [{ issuer: "https://a.example.com/", audience: API, algorithms: ["RS256"] }],
      } as unknown as VerifierOptions),
    ).toThrow(/issuers\[0\]\.algorithms is not a per-issuer option/);
    expect(() =>
      createVerifier({
        issuer: "https://a.example.com/",
        issuers: [{ issuer: "https://a.example.com/", audience: API }],
      } as unknown as VerifierOptions),
    ).toThrow(/issuers replaces issuer/);
  });
});

describe("call options", () => {
  it("verify(token, null) and other bad call options are clear TypeErrors", async () => {
    const ks = await keyServer();
    const v = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
    const token = await ks.sign();
    await expect(v.verify(token, null as never)).rejects.toThrow(/verify options must be an object/);
    await expect(v.verify(token, "read" as never)).rejects.toThrow(/verify options must be an object/);
    await expect(v.verify(token, { audience: [] })).rejects.toThrow(/audience must be a non-empty/);
    await expect(v.verify(token, { requiredScopes: 5 as never })).rejects.toThrow(/requiredScopes must be/);
  });
});

describe("verifier options are checked by type", () => {
  it("bad options are TypeErrors naming them, never silently accepted", async () => {
    const ks = await keyServer();
    const base = { issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri };
    const bad: Array<[object, RegExp]> = [
      [{ claims: new Map([["tenant", "a"]]) }, /claims must be an object/],
      [{ claims: [] }, /claims must be an object/],
      [{ requiredScopes: "" }, /requiredScopes must name at least one scope/],
      [{ requiredScopes: " \t " }, /requiredScopes must/],
      [{ requiredScopes: 5 }, /requiredScopes must be a string/],
      [
        { requiredScopes: { anyOf: ["a"], allOf: ["b"] } },
        /requiredScopes must be \{ anyOf \} or \{ allOf \}/,
      ],
      [{ requiredScopes: { oneOf: ["a"] } }, /requiredScopes must be \{ anyOf \} or \{ allOf \}/],
      [{ dpop: "x" }, /dpop must be an object/],
      [{ dpop: true }, /dpop must be an object/],
      [{ dpop: { maxAgeSeconds: -1 } }, /dpop\.maxAgeSeconds is not an option of createVerifier\(\)/],
      [{ dpop: { required: "yes" } }, /dpop\.required must be a boolean/],
      [{ verifiedTokenCache: "yes" }, /verifiedTokenCache must be/],
      [{ verifiedTokenCache: true }, /verifiedTokenCache must be/],
      [{ verifiedTokenCache: { max: 5 } }, /verifiedTokenCache\.max is not an option of createVerifier\(\)/],
      [{ requireTyp: "" }, /requireTyp must be a boolean or a non-empty string/],
      [{ maxTokenBytes: 0 }, /maxTokenBytes must be a positive integer/],
      [{ maxTokenBytes: 1.5 }, /maxTokenBytes must be a positive integer/],
    ];
    for (const [option, message] of bad) {
      expect(() => createVerifier({ ...base, ...option } as never), JSON.stringify(option)).toThrow(message);
    }
    expect(() => createVerifier({ issuers: [{ ...base, claims: [] }] } as never)).toThrow(
      /issuers\[0\]\.claims must be an object/,
    );
    // Per call too.
    const v = createVerifier(base);
    const token = await ks.sign({ scope: "read" });
    for (const requiredScopes of ["", " ", { anyOf: ["read"], allOf: ["write"] }]) {
      await expect(v.verify(token, { requiredScopes: requiredScopes as never })).rejects.toThrow(TypeError);
    }
    // Still accepted: the documented forms.
    expect(() =>
      createVerifier({ ...base, claims: Object.create(null), dpop: {}, verifiedTokenCache: false }),
    ).not.toThrow();
    await expect(v.verify(token, { requiredScopes: { allOf: ["read"] } })).resolves.toBeTruthy();
  });
});
