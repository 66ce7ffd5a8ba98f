/**
 * The framework-free functions check their options as the adapters do: `authenticateRequest`
 * (rejecting), `extractBearerToken`, `checkCertificateBinding` and the web `errorResponse`
 * (throwing) refuse a misspelt option instead of running without it. A plain node:http API built on
 * `authenticateRequest` shows what a user sees.
 */
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  authenticateRequest,
  checkCertificateBinding,
  createVerifier,
  extractBearerToken,
  HttpAuthError,
  type HttpAuthOptions,
  type Verifier,
} from "../../src/index.js";
import { errorResponse } from "../../src/web/index.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { rejected, thrown } from "../support/option-names.js";

const API = "https://api.example.com";
let ks: KeyServer;
let verifier: Verifier;
let reader: string;

beforeAll(async () => {
  ks = await startKeyServer();
  verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
  reader = await ks.sign({ scope: "read:data", client_id: "reader" });
});
afterAll(() => ks.close());

/** An admin route of a node:http API on authenticateRequest, with the options it was written with. */
async function adminApi(options: object) {
  const server = await listen(
    createServer(async (req, res) => {
      try {
        const auth = await authenticateRequest(
          verifier,
          { authorization: req.headers.authorization },
          options as HttpAuthOptions,
        );
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ client: auth?.clientId }));
      } catch (error) {
        const status = error instanceof HttpAuthError ? error.status : 500;
        res.writeHead(status).end();
      }
    }),
  );
  return server;
}

describe("authenticateRequest checks its options' names", () => {
  it("requiredScope (for requiredScopes) does not let a read:data token into an admin route", async () => {
    const api = await adminApi({ requiredScope: ["admin"] });
    try {
      const response = await fetch(`${api.url}/admin`, { headers: { authorization: `Bearer ${reader}` } });
      expect(response.status).toBe(500);
    } finally {
      await api.close();
    }
    const error = await rejected(
      authenticateRequest(verifier, { authorization: `Bearer ${reader}` }, {
        requiredScope: ["admin"],
      } as never),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      "requiredScope is not an option of authenticateRequest(); did you mean requiredScopes?",
    );
  });

  it("rejects (never throws) for a misspelt option, a bad value, an inherited typo and a misspelt request part", async () => {
    const call = (request: object, options: object) => {
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = authenticateRequest(verifier, request as never, options as never);
      }).not.toThrow();
      return rejected(promise!);
    };
    const bearer = { authorization: `Bearer ${reader}` };
    expect(((await call(bearer, { optinal: true })) as Error).message).toMatch(/did you mean optional\?/);
    expect(((await call(bearer, { optional: "yes" })) as Error).message).toBe("optional must be a boolean");
    expect(((await call(bearer, Object.create({ requiredScope: ["admin"] }))) as Error).message).toMatch(
      /did you mean requiredScopes\?/,
    );
    expect(((await call({ authorizaton: `Bearer ${reader}` }, {})) as Error).message).toMatch(
      /authorizaton is not an option of authenticateRequest\(\) \(the request\); did you mean authorization\?/,
    );
    // Inherited options are read: the scope requirement holds.
    const inherited = await call(bearer, Object.create({ requiredScopes: ["admin"] }));
    expect(inherited).toBeInstanceOf(HttpAuthError);
    expect((inherited as HttpAuthError).status).toBe(403);
    // The right names still work.
    const auth = await authenticateRequest(verifier, bearer, { requiredScopes: ["read:data"] });
    expect(auth?.clientId).toBe("reader");
  });
});

describe("the other framework-free functions check names too", () => {
  it("extractBearerToken: allowQueryTokens (for allowQueryToken) is refused, not ignored", () => {
    const error = thrown(() =>
      extractBearerToken({ authorization: undefined, queryTokens: ["abc"] }, {
        allowQueryTokens: true,
      } as never),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(
      /allowQueryTokens is not an option of extractBearerToken\(\); did you mean allowQueryToken\?/,
    );
    expect(
      extractBearerToken({ authorization: undefined, queryTokens: ["abc"] }, { allowQueryToken: true }),
    ).toBe("abc");
  });

  it("checkCertificateBinding: requireCertificateBoundToken (for …Tokens) does not accept an unbound token", async () => {
    const auth = await verifier.verify(reader);
    const error = thrown(() =>
      checkCertificateBinding(auth, undefined, { requireCertificateBoundToken: true } as never),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/did you mean requireCertificateBoundTokens\?/);
    const refused = thrown(() =>
      checkCertificateBinding(auth, undefined, { requireCertificateBoundTokens: true }),
    );
    expect(refused).toMatchObject({ code: "ERR_TOKEN_NOT_CERTIFICATE_BOUND" });
  });

  it("errorResponse (m2m-kit/web): a misspelt option is refused", async () => {
    const failure = (await rejected(
      authenticateRequest(verifier, { authorization: undefined }, {}),
    )) as HttpAuthError;
    const error = thrown(() => errorResponse(failure, { errorbody: () => ({}) } as never));
    expect((error as Error).message).toMatch(
      /errorbody is not an option of errorResponse\(\); did you mean errorBody\?/,
    );
    const problem = () => ({ contentType: "application/problem+json", body: '{"title":"Unauthorized"}' });
    const response = errorResponse(failure, { errorBody: problem });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  });
});
