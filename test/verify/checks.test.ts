import { createServer } from "node:http";
import { exportJWK, exportSPKI, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClaimPolicyError,
  ClientCredentialsClient,
  createVerifier,
  InsufficientScopeError,
  InvalidTokenError,
  type VerifierOptions,
} from "../../src/index.js";
import { listen } from "../support/http.js";
import {
  b64url,
  createTestKey,
  type KeyServer,
  rawToken,
  signRaw,
  startKeyServer,
  type TestKey,
} from "../support/key-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const API = "https://api.example.com";
let ks: KeyServer;
let rsa: TestKey;
let attacker: TestKey;
let spy: Awaited<ReturnType<typeof listen>>;
let spyHits = 0;

beforeAll(async () => {
  ks = await startKeyServer({ algs: ["RS256", "PS256", "ES256", "ES384", "EdDSA"] });
  rsa = ks.keys[0] as TestKey;
  attacker = await createTestKey("RS256", rsa.kid);
  // A second server standing for an attacker's key URL: it must never be contacted.
  spy = await listen(
    createServer((_req, res) => {
      spyHits++;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ keys: [attacker.publicJwk] }));
    }),
  );
});
afterAll(async () => {
  await ks.close();
  await spy.close();
});

function verifier(extra: Partial<VerifierOptions> = {}) {
  return createVerifier({ issuer: ks.issuer, audience: API, ...extra } as VerifierOptions);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => {
      throw new Error("token verified but should not have");
    },
    (e: unknown) => e,
  );
  if (!(error instanceof Error) || !("code" in error)) throw error;
  return error.code as string;
}

describe("valid tokens", () => {
  it.each(["RS256", "PS256", "ES256", "ES384", "EdDSA"])("%s verifies", async (alg) => {
    const key = ks.keys.find((k) => k.alg === alg);
    const token = await ks.sign({ client_id: "svc", scope: "read:data" }, { key });
    const auth = await verifier().verify(token);
    expect(auth.header.alg).toBe(alg);
    expect(auth.clientId).toBe("svc");
    expect(auth.scopes).toEqual(["read:data"]);
    expect(auth.issuer).toBe(ks.issuer);
    expect(auth.expiresAt).toBe((auth.claims.exp as number) * 1000);
  });

  it.each([
    ["aud string", { aud: API }],
    ["aud array", { aud: ["https://other.example.com", API] }],
  ])("%s", async (_name, claims) => {
    await expect(verifier().verify(await ks.sign(claims))).resolves.toBeTruthy();
  });

  it.each([
    ["scope string", { scope: "a b" }, ["a", "b"]],
    ["scope array", { scope: ["a", "b"] }, ["a", "b"]],
    ["scp string", { scp: "a b" }, ["a", "b"]],
    ["scp array (Okta, Kinde)", { scp: ["a", "b"] }, ["a", "b"]],
    ["permissions (Auth0)", { scope: "a", permissions: ["a", "b"] }, ["a", "b"]],
    ["roles (Entra app permissions)", { roles: ["Data.Read"] }, ["Data.Read"]],
  ])("%s", async (_name, claims, scopes) => {
    const auth = await verifier().verify(await ks.sign(claims));
    expect([...auth.scopes].sort()).toEqual(scopes);
  });

  it("scopeClaim names the claim(s) to read", async () => {
    const token = await ks.sign({ scope: "ignored", custom_scopes: "x y", more: ["z"] });
    const auth = await verifier({ scopeClaim: ["custom_scopes", "more"] }).verify(token);
    expect(auth.scopes).toEqual(["x", "y", "z"]);
  });

  it("clientId comes from client_id, azp, cid or appid", async () => {
    for (const claim of ["client_id", "azp", "cid", "appid"]) {
      const auth = await verifier().verify(await ks.sign({ [claim]: `from-${claim}` }));
      expect(auth.clientId).toBe(`from-${claim}`);
    }
  });

  it("a token without kid verifies when exactly one key fits its alg", async () => {
    const token = await ks.sign({}, { key: ks.keys.find((k) => k.alg === "ES256"), omitKid: true });
    await expect(verifier().verify(token)).resolves.toBeTruthy();
  });

  it("requireTyp accepts at+jwt and application/at+jwt", async () => {
    const v = verifier({ requireTyp: true });
    await expect(v.verify(await ks.sign({}, { header: { typ: "at+jwt" } }))).resolves.toBeTruthy();
    await expect(
      v.verify(await ks.sign({}, { header: { typ: "application/at+jwt" } })),
    ).resolves.toBeTruthy();
  });

  it("several audiences configured: any one matches", async () => {
    const token = await ks.sign({ aud: "https://b.example.com" });
    await expect(
      verifier({ audience: ["https://a.example.com", "https://b.example.com"] }).verify(token),
    ).resolves.toBeTruthy();
  });

  it("audience: null turns the audience check off, explicitly", async () => {
    await expect(
      verifier({ audience: null }).verify(await ks.sign({}, { omit: ["aud"] })),
    ).resolves.toBeTruthy();
  });

  it("tokens from a real oidc-provider verify, with scopes and client id", async () => {
    const as: RunningProvider = await startProvider();
    try {
      const client = new ClientCredentialsClient({
        issuer: as.issuer,
        clientId: "basic-client",
        clientSecret: ODD_SECRET,
      });
      const token = await client.getToken({ audience: API, scope: "read:data write:data" });
      const auth = await createVerifier({ issuer: as.issuer, audience: API, requireTyp: true }).verify(
        token.accessToken,
        {
          requiredScopes: ["read:data"],
        },
      );
      expect(auth.clientId).toBe("basic-client");
      expect([...auth.scopes].sort()).toEqual(["read:data", "write:data"]);
    } finally {
      await as.close();
    }
  });
});

describe("every crafted bad token is rejected with the right code", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const valid = () => ({ iss: ks.issuer, aud: API, iat: now(), exp: now() + 60 });
  const cases: Array<[string, () => Promise<string>, string, Partial<VerifierOptions>?]> = [
    ["expired", () => ks.sign({ exp: now() - 60 }), "ERR_JWT_EXPIRED"],
    ["no exp", () => ks.sign({}, { omit: ["exp"] }), "ERR_JWT_CLAIM_MISSING"],
    ["exp not a number", () => ks.sign({ exp: "tomorrow" as never }), "ERR_JWT_MALFORMED"],
    ["nbf in the future", () => ks.sign({ nbf: now() + 60 }), "ERR_JWT_NOT_YET_VALID"],
    ["iat in the future", () => ks.sign({ iat: now() + 60 }), "ERR_JWT_IAT_IN_FUTURE"],
    ["too old", () => ks.sign({ iat: now() - 7200 }), "ERR_JWT_TOO_OLD", { maxTokenAgeSeconds: 3600 }],
    ["wrong issuer", () => ks.sign({ iss: "https://evil.example.com" }), "ERR_JWT_ISSUER"],
    ["issuer with a trailing slash", () => ks.sign({ iss: `${ks.issuer}/` }), "ERR_JWT_ISSUER"],
    ["no issuer", () => ks.sign({}, { omit: ["iss"] }), "ERR_JWT_ISSUER"],
    ["wrong audience", () => ks.sign({ aud: "https://other.example.com" }), "ERR_JWT_AUDIENCE"],
    ["no audience", () => ks.sign({}, { omit: ["aud"] }), "ERR_JWT_AUDIENCE"],
    [
      "typ JWT when at+jwt is required",
      () => ks.sign({}, { header: { typ: "JWT" } }),
      "ERR_JWT_TYP",
      { requireTyp: true },
    ],
    ["no typ when at+jwt is required", () => ks.sign({}), "ERR_JWT_TYP", { requireTyp: true }],
    [
      "unknown crit",
      () => signRaw({ alg: "RS256", kid: rsa.kid, crit: ["exp2"], exp2: 1 }, valid(), rsa),
      "ERR_JWT_CRIT",
    ],
    [
      "b64:false in crit",
      () => signRaw({ alg: "RS256", kid: rsa.kid, crit: ["b64"], b64: false }, valid(), rsa),
      "ERR_JWT_CRIT",
    ],
    [
      "crit not an array",
      () => signRaw({ alg: "RS256", kid: rsa.kid, crit: "exp2" }, valid(), rsa),
      "ERR_JWT_CRIT",
    ],
    ["signed by another key with the same kid", () => ks.sign({}, { key: attacker }), "ERR_JWT_SIGNATURE"],
    [
      "alg none",
      async () => rawToken({ alg: "none" }, { iss: ks.issuer, aud: API, exp: now() + 60 }, ""),
      "ERR_JWT_MALFORMED",
    ],
    [
      "alg none with a signature",
      async () => rawToken({ alg: "none", kid: rsa.kid }, { iss: ks.issuer, aud: API, exp: now() + 60 }),
      "ERR_JWT_ALG_NOT_ALLOWED",
    ],
    ["alg NONE", async () => rawToken({ alg: "NONE" }, { iss: ks.issuer }), "ERR_JWT_ALG_NOT_ALLOWED"],
    [
      "HS256 signed with the RSA public key as PEM",
      async () =>
        new SignJWT({ iss: ks.issuer, aud: API, exp: now() + 60 })
          .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
          .sign(new TextEncoder().encode(await exportSPKI(rsa.publicKey))),
      "ERR_JWT_ALG_NOT_ALLOWED",
    ],
    [
      "HS256 signed with the RSA public key as JWK JSON",
      async () =>
        new SignJWT({ iss: ks.issuer, aud: API, exp: now() + 60 })
          .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
          .sign(new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey)))),
      "ERR_JWT_ALG_NOT_ALLOWED",
    ],
    [
      "ES256 header with an RSA kid",
      async () => rawToken({ alg: "ES256", kid: rsa.kid }, { iss: ks.issuer, aud: API, exp: now() + 60 }),
      "ERR_JWKS_NO_MATCHING_KEY",
    ],
    [
      "PS256 header with a key whose JWK alg is RS256",
      async () => rawToken({ alg: "PS256", kid: rsa.kid }, { iss: ks.issuer, aud: API, exp: now() + 60 }),
      "ERR_JWKS_NO_MATCHING_KEY",
    ],
    [
      "alg outside a narrowed allowlist",
      () => ks.sign({}, { key: ks.keys.find((k) => k.alg === "PS256") }),
      "ERR_JWT_ALG_NOT_ALLOWED",
      { algorithms: ["RS256"] },
    ],
  ];

  it.each(cases)("%s → %s", async (_name, make, code, extra) => {
    const token = await make();
    expect(await codeOf(verifier(extra).verify(token))).toBe(code);
  });

  it.each([
    ["empty", ""],
    ["one dot", "a.b"],
    ["five segments", "a.b.c.d.e"],
    ["empty segments", ".."],
    ["empty signature", `${b64url('{"alg":"RS256"}')}.${b64url("{}")}.`],
    ["bad base64 header", "%%%.e30.c2ln"],
    ["header not JSON", `${b64url("not json")}.e30.c2ln`],
    ["header a JSON array", `${b64url("[1]")}.e30.c2ln`],
    ["header null", `${b64url("null")}.e30.c2ln`],
    ["payload a number", `${b64url('{"alg":"RS256"}')}.${b64url("42")}.c2ln`],
    ["payload not JSON", `${b64url('{"alg":"RS256"}')}.${b64url("{")}.c2ln`],
    ["kid a number", rawToken({ alg: "RS256", kid: 7 }, {})],
  ])("malformed: %s → ERR_JWT_MALFORMED", async (_name, token) => {
    expect(await codeOf(verifier().verify(token))).toBe("ERR_JWT_MALFORMED");
  });

  it("a non-canonical spelling of a valid signature is refused", async () => {
    const token = await ks.sign({ jti: "canonical" });
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = token.at(-1) as string;
    // RS256: 256 bytes = 342 characters; the last one carries 2 bits and 4 unused ones.
    const twin = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    expect(Buffer.from(twin.split(".")[2] as string, "base64url")).toEqual(
      Buffer.from(token.split(".")[2] as string, "base64url"),
    );
    expect(await codeOf(verifier().verify(twin))).toBe("ERR_JWT_SIGNATURE");
    await expect(verifier().verify(token)).resolves.toBeTruthy();
  });

  it("a token signed without any JOSE library's checks verifies when nothing is wrong with it", async () => {
    const token = await signRaw({ alg: "RS256", kid: rsa.kid }, valid(), rsa);
    await expect(verifier().verify(token)).resolves.toBeTruthy();
  });

  it("non-string input is an InvalidTokenError, not a TypeError", async () => {
    for (const input of [undefined, null, 42, {}, ["a"]]) {
      const error = await verifier()
        .verify(input as never)
        .catch((e) => e);
      expect(error).toBeInstanceOf(InvalidTokenError);
    }
  });

  it("jku, x5u, x5c and an embedded jwk are never used, and their URLs never contacted", async () => {
    const attackerJwk = attacker.publicJwk;
    for (const header of [
      { jku: `${spy.url}/jwks` },
      { x5u: `${spy.url}/cert.pem` },
      { jwk: attackerJwk },
      { x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] },
    ]) {
      const forged = await ks.sign({}, { key: attacker, header });
      expect(await codeOf(verifier().verify(forged))).toBe("ERR_JWT_SIGNATURE");
      const unknownKid = await ks.sign({}, { key: await createTestKey("RS256", "attacker-kid"), header });
      expect(await codeOf(verifier().verify(unknownKid))).toBe("ERR_JWKS_NO_MATCHING_KEY");
    }
    expect(spyHits).toBe(0);
  });

  it("a 1 MiB token is rejected before it is decoded", async () => {
    // Not even valid base64url: had it been decoded, the code would say MALFORMED.
    const huge = `${"%".repeat(1024 * 1024)}.e30.c2ln`;
    const error = await verifier()
      .verify(huge)
      .catch((e) => e);
    expect(error.code).toBe("ERR_JWT_TOO_LARGE");
    expect(error.message).not.toContain("%%%%");
  });

  it("error messages never contain the token", async () => {
    const token = await ks.sign({ aud: "https://other.example.com" });
    const error = await verifier()
      .verify(token)
      .catch((e) => e);
    expect(`${error.message}\n${error.stack}`).not.toContain(token);
    expect(`${error.message}`).not.toContain(token.split(".")[1]);
  });

  it("an HMAC algorithm cannot be allowed", () => {
    expect(() => verifier({ algorithms: ["HS256" as never] })).toThrow(/HS256 is not allowed/);
    expect(() => verifier({ algorithms: ["none" as never] })).toThrow(TypeError);
  });
});

describe("scopes and claim policy are authorization decisions (403)", () => {
  it("missing scopes: InsufficientScopeError with required and granted", async () => {
    const token = await ks.sign({ scope: "read:data" });
    const error = await verifier()
      .verify(token, { requiredScopes: ["read:data", "write:data"] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect(error.code).toBe("ERR_INSUFFICIENT_SCOPE");
    expect(error.status).toBe(403);
    expect(error.requiredScopes).toEqual(["read:data", "write:data"]);
    expect(error.grantedScopes).toEqual(["read:data"]);
  });

  it("anyOf needs one of the scopes", async () => {
    const token = await ks.sign({ scope: "write:data" });
    await expect(
      verifier().verify(token, { requiredScopes: { anyOf: ["read:data", "write:data"] } }),
    ).resolves.toBeTruthy();
    await expect(verifier().verify(token, { requiredScopes: { anyOf: ["admin"] } })).rejects.toBeInstanceOf(
      InsufficientScopeError,
    );
  });

  it("verifier-level requiredScopes apply to every call", async () => {
    const v = verifier({ requiredScopes: "read:data" });
    await expect(v.verify(await ks.sign({ scope: "write:data" }))).rejects.toBeInstanceOf(
      InsufficientScopeError,
    );
  });

  it("claim policies: exact values, allowlists and predicates → ClaimPolicyError (403)", async () => {
    const v = verifier({
      claims: {
        gty: "client-credentials",
        client_id: ["svc-a", "svc-b"],
        tenant: (value) => typeof value === "string" && value.startsWith("t-"),
      },
    });
    await expect(
      v.verify(await ks.sign({ gty: "client-credentials", client_id: "svc-a", tenant: "t-1" })),
    ).resolves.toBeTruthy();
    for (const [claims, claim] of [
      [{ gty: "password", client_id: "svc-a", tenant: "t-1" }, "gty"],
      [{ gty: "client-credentials", client_id: "svc-z", tenant: "t-1" }, "client_id"],
      [{ gty: "client-credentials", client_id: "svc-a", tenant: "x" }, "tenant"],
      [{ client_id: "svc-a", tenant: "t-1" }, "gty"],
    ] as const) {
      const error = await v.verify(await ks.sign(claims)).catch((e) => e);
      expect(error).toBeInstanceOf(ClaimPolicyError);
      expect(error.code).toBe("ERR_CLAIM_POLICY");
      expect(error.status).toBe(403);
      expect(error.claim).toBe(claim);
    }
  });

  it("an array claim passes when one element is allowed (Kinde gty)", async () => {
    const v = verifier({ claims: { gty: "client_credentials" } });
    await expect(v.verify(await ks.sign({ gty: ["client_credentials"] }))).resolves.toBeTruthy();
  });
});

describe("constructor validation", () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ["no audience", { audience: undefined }, /audience is required/],
    ["empty issuer", { issuer: "" }, /issuer/],
    ["http issuer off loopback", { issuer: "http://auth.example.com" }, /issuer uses http:/],
    ["bad tolerance", { clockToleranceSeconds: -1 }, /clockToleranceSeconds/],
    ["bad requiredScopes", { requiredScopes: 5 }, /requiredScopes/],
    ["unknown jwks option", { jwks: { maxAge: 1 } }, /jwks.maxAge/],
  ])("%s", (_name, overrides, message) => {
    expect(() =>
      createVerifier({ issuer: ks.issuer, audience: API, ...overrides } as VerifierOptions),
    ).toThrow(message);
  });
});
