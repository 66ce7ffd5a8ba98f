/**
 * The verifier's configuration fails closed: every options object (createVerifier, jwks,
 * introspection, dpop, verifiedTokenCache, each issuers entry, verify()'s call options,
 * verifyAccessToken's options) refuses a name it does not know, naming the option it misspells.
 * Promise-returning functions reject on bad arguments rather than throw.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DPOP_OPTION_NAMES } from "../../src/dpop/verify.js";
import { createDpopProofVerifier, createVerifier, verifyAccessToken } from "../../src/index.js";
import { ALLOWED_ACTOR_NAMES } from "../../src/verify/delegation.js";
import { INTROSPECTION_OPTION_NAMES } from "../../src/verify/introspection.js";
import { JWKS_OPTION_NAMES } from "../../src/verify/jwks.js";
import {
  ISSUER_OPTION_NAMES,
  VERIFIED_TOKEN_CACHE_OPTION_NAMES,
  VERIFY_CALL_OPTION_NAMES,
} from "../../src/verify/options.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import {
  expectTypoError,
  namesOf,
  rejected,
  thrown,
  typosOf,
  VERIFIER_NAMES,
} from "../support/option-names.js";

const API = "https://api.example.com";
let ks: KeyServer;
const base = () => ({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });

beforeAll(async () => {
  ks = await startKeyServer();
});
afterAll(() => ks.close());

describe("createVerifier refuses misspelt names, at every level", () => {
  it("top level", () => {
    for (const [typo, meant] of typosOf(VERIFIER_NAMES)) {
      const error = thrown(() => createVerifier({ ...base(), [typo]: true } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of createVerifier()");
    }
  });

  const nested: Array<[string, readonly string[], object]> = [
    ["jwks", namesOf(JWKS_OPTION_NAMES), {}],
    ["introspection", namesOf(INTROSPECTION_OPTION_NAMES), { clientId: "api", clientSecret: "s" }],
    ["dpop", namesOf(DPOP_OPTION_NAMES), {}],
    ["verifiedTokenCache", namesOf(VERIFIED_TOKEN_CACHE_OPTION_NAMES), {}],
  ];
  for (const [option, names, valid] of nested) {
    it(option, () => {
      for (const [typo, meant] of typosOf(names)) {
        const error = thrown(() => createVerifier({ ...base(), [option]: { ...valid, [typo]: 1 } } as never));
        expectTypoError(error, typo, meant, `${option}.`);
      }
    });
  }

  it("each issuers entry; a shared option there is named as such", () => {
    for (const [typo, meant] of typosOf(namesOf(ISSUER_OPTION_NAMES))) {
      const entry = { ...base(), [typo]: "x" };
      const error = thrown(() =>
        createVerifier({ issuers: [{ issuer: "https://a.example.com/", audience: API }, entry] } as never),
      );
      expectTypoError(error, typo, meant, "issuers[1].");
    }
    expect(
      thrown(() => createVerifier({ issuers: [{ ...base(), clockToleranceSeconds: 5 }] } as never)),
    ).toHaveProperty(
      "message",
      "issuers[0].clockToleranceSeconds is not a per-issuer option: set it at the top level of createVerifier(), for every issuer",
    );
  });

  it("each allowedActors entry, and each answer of an issuers resolver", async () => {
    for (const [typo, meant] of typosOf(namesOf(ALLOWED_ACTOR_NAMES))) {
      const error = thrown(() =>
        createVerifier({ ...base(), allowedActors: [{ sub: "a", [typo]: "x" }] } as never),
      );
      expectTypoError(error, typo, meant, "allowedActors[0].");
    }
    const token = await ks.sign();
    for (const [typo, meant] of typosOf(namesOf(ISSUER_OPTION_NAMES))) {
      const verifier = createVerifier({
        issuers: () => ({ audience: API, jwksUri: ks.jwksUri, [typo]: "x" }),
      } as never);
      expectTypoError(await rejected(verifier.verify(token)), typo, meant, "issuers(iss).");
    }
  });

  it("free-form maps (claims) are not checked; unrelated names get no suggestion", () => {
    expect(
      thrown(() =>
        createVerifier({ ...base(), claims: { tenant: "a", "https://example.com/roles": () => true } }),
      ),
    ).toBeUndefined();
    expect(thrown(() => createVerifier({ ...base(), colour: "blue" } as never))).toHaveProperty(
      "message",
      "colour is not an option of createVerifier()",
    );
  });

  it("createDpopProofVerifier", () => {
    for (const [typo, meant] of typosOf(namesOf(DPOP_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createDpopProofVerifier({ [typo]: 1 } as never)),
        typo,
        meant,
      );
    }
  });
});

describe("call options", () => {
  it("verify(token, options) rejects a misspelt name (requiredScope: the token would pass unchecked)", async () => {
    const verifier = createVerifier(base());
    const token = await ks.sign({ scope: "write:data" });
    for (const [typo, meant] of typosOf(namesOf(VERIFY_CALL_OPTION_NAMES))) {
      const error = await rejected(verifier.verify(token, { [typo]: ["read:data"] } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of verify()");
    }
    await expect(verifier.verify(token, { requiredScopes: ["read:data"] })).rejects.toHaveProperty(
      "code",
      "ERR_INSUFFICIENT_SCOPE",
    );
  });

  it("verifyAccessToken(token, options): verifier and call option names", async () => {
    const token = await ks.sign();
    const names = [...VERIFIER_NAMES, ...namesOf(VERIFY_CALL_OPTION_NAMES)];
    for (const [typo, meant] of typosOf([...new Set(names)])) {
      const error = await rejected(verifyAccessToken(token, { ...base(), [typo]: true } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of verifyAccessToken()");
    }
    expect(
      ((await rejected(verifyAccessToken(token, { ...base(), jwks: { timeout: 5 } } as never))) as Error)
        .message,
    ).toBe("jwks.timeout is not an option of verifyAccessToken(); did you mean jwks.timeoutMs?");
  });

  it("verifyAccessToken's waitUntil is a call option: the verifier (and its keys) is still shared", async () => {
    const ks2 = await startKeyServer();
    try {
      const options = { issuer: ks2.issuer, audience: API, jwksUri: ks2.jwksUri };
      const waited: Promise<unknown>[] = [];
      const waitUntil = (promise: Promise<unknown>) => {
        waited.push(promise);
      };
      for (let i = 0; i < 3; i++) {
        const auth = await verifyAccessToken(await ks2.sign({ client_id: `c${i}` }), {
          ...options,
          waitUntil,
        });
        expect(auth.clientId).toBe(`c${i}`);
      }
      expect(ks2.jwksFetches).toBe(1);
    } finally {
      await ks2.close();
    }
  });
});

describe("scopes are RFC 6749 §3.3 scope tokens", () => {
  it("createVerifier's requiredScopes, at creation; verify()'s, as a rejection", async () => {
    for (const scope of ["read\r\nx", "lire:donnée", 'a"b', "a\\b", "read\tdata"]) {
      for (const requiredScopes of [[scope], scope, { anyOf: ["read", scope] }, { allOf: [scope] }]) {
        const error = thrown(() => createVerifier({ ...base(), requiredScopes }));
        expect(error, JSON.stringify(requiredScopes)).toBeInstanceOf(TypeError);
        expect((error as Error).message).toMatch(
          /^requiredScopes(\.anyOf|\.allOf)? must hold RFC 6749 §3\.3 scope tokens/,
        );
      }
      const verifier = createVerifier(base());
      await expect(verifier.verify(await ks.sign(), { requiredScopes: [scope] })).rejects.toThrow(
        /requiredScopes must hold RFC 6749 §3\.3 scope tokens/,
      );
    }
  });
});

describe("promise-returning functions reject on bad arguments, never throw", () => {
  const returns = (call: () => Promise<unknown>): Promise<unknown> => {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = call();
    }).not.toThrow();
    expect(promise).toBeInstanceOf(Promise);
    return rejected(promise as Promise<unknown>);
  };

  it("verifyAccessToken, verifier.verify", async () => {
    const token = await ks.sign();
    expect(await returns(() => verifyAccessToken(token, null as never))).toBeInstanceOf(TypeError);
    expect(await returns(() => verifyAccessToken(token, "issuer" as never))).toBeInstanceOf(TypeError);
    expect(await returns(() => verifyAccessToken(token, { issuer: ks.issuer } as never))).toBeInstanceOf(
      TypeError,
    );
    expect(await returns(() => verifyAccessToken(null as never, base()))).toHaveProperty(
      "code",
      "ERR_JWT_MALFORMED",
    );
    const verifier = createVerifier(base());
    expect(await returns(() => verifier.verify(token, null as never))).toBeInstanceOf(TypeError);
    expect(await returns(() => verifier.verify(5 as never))).toHaveProperty("code", "ERR_JWT_MALFORMED");
  });
});
