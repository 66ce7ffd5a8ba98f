/**
 * A verifier URL never carries credentials: `issuer`, `jwksUri`, `introspection.endpoint`, issuer and
 * key-set templates, `issuers` entries and resource metadata are refused at creation with a
 * `TypeError` that names the option and never the password (which would otherwise reach
 * `VerifierUnavailableError` messages and `jwks_failed` / `verification_failed` events). A token whose
 * `iss` has credentials never reaches an issuer resolver.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import {
  createVerifier,
  type VerifierEvent,
  type VerifierOptions,
  verifyAccessToken,
} from "../../src/index.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { rejected, thrown } from "../support/option-names.js";

const API = "https://api.example.com";
const PASSWORD = "s3cret-Pw9";
let ks: KeyServer;

beforeAll(async () => {
  ks = await startKeyServer();
});
afterAll(() => ks.close());

/** `url` with `reader:PASSWORD@` in its authority. */
const withCredentials = (url: string) => url.replace("://", `://reader:${PASSWORD}@`);

function expectRefused(make: () => unknown, option: RegExp) {
  const error = thrown(make);
  expect(error, String(option)).toBeInstanceOf(TypeError);
  const message = (error as Error).message;
  expect(message).toMatch(option);
  expect(message).toMatch(/must not contain credentials/);
  expect(message).not.toContain(PASSWORD);
  expect(message).not.toContain("reader");
}

describe("credentials in a verifier URL are refused at creation", () => {
  const base = () => ({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });

  it.each<[string, () => object, RegExp]>([
    ["jwksUri", () => ({ ...base(), jwksUri: withCredentials(ks.jwksUri) }), /^jwksUri /],
    ["issuer", () => ({ ...base(), issuer: withCredentials(ks.issuer) }), /^issuer /],
    [
      "an issuer in a list",
      () => ({ ...base(), issuer: [ks.issuer, withCredentials(ks.issuer)] }),
      /^issuer /,
    ],
    [
      "introspection.endpoint",
      () => ({
        ...base(),
        introspection: {
          endpoint: withCredentials(new URL("/introspect", ks.issuer).href),
          clientId: "api",
          clientSecret: "x",
        },
      }),
      /^introspection\.endpoint /,
    ],
    [
      "an issuers entry",
      () => ({ issuers: [{ issuer: ks.issuer, audience: API, jwksUri: withCredentials(ks.jwksUri) }] }),
      /^issuers\[0\]\.jwksUri /,
    ],
    [
      "an issuer template (placeholder in the path)",
      () => ({
        issuer: withCredentials("https://login.example.com/{tenantid}/v2.0"),
        audience: API,
        tenants: "any",
      }),
      /^issuer /,
    ],
    [
      "an issuer template (placeholder in the host)",
      () => ({ issuer: `https://reader:${PASSWORD}@{tenant}.example.com/`, audience: API, tenants: "any" }),
      /^issuer /,
    ],
    [
      "a key-set template",
      () => ({
        issuer: "https://{tenant}.example.com/",
        jwksUri: `https://reader:${PASSWORD}@{tenant}.example.com/jwks`,
        audience: API,
        tenants: "any",
      }),
      /^jwksUri /,
    ],
  ])("%s", (_, options, option) => {
    expectRefused(() => createVerifier(options() as VerifierOptions), option);
  });

  it("verifyAccessToken rejects with the same TypeError", async () => {
    const error = await rejected(
      verifyAccessToken("a.b.c", { ...base(), jwksUri: withCredentials(ks.jwksUri) }),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).not.toContain(PASSWORD);
  });

  it("resourceMetadata.authorizationServers and resourceDocumentation", () => {
    const templated = { issuer: "https://{tenant}.example.com/", audience: API, tenants: "any" as const };
    expectRefused(
      () =>
        requireAuth({
          ...templated,
          resourceMetadata: { authorizationServers: [`http://reader:${PASSWORD}@idp.example.com/`] },
        }),
      /^resourceMetadata\.authorizationServers /,
    );
    expectRefused(
      () =>
        requireAuth({
          ...base(),
          resourceMetadata: { resourceDocumentation: withCredentials("https://docs.example.com/api") },
        }),
      /^resourceMetadata\.resourceDocumentation /,
    );
  });

  it("a working verifier's events and errors never carry the URL's user info: there is none", async () => {
    const events: VerifierEvent[] = [];
    const verifier = createVerifier({ ...base(), onEvent: (event) => events.push(event) });
    ks.mode = "503";
    try {
      const error = await rejected(verifier.verify(await ks.sign()));
      expect(error).toMatchObject({ code: "ERR_VERIFIER_UNAVAILABLE" });
      expect(events.some((event) => event.type === "jwks_failed")).toBe(true);
    } finally {
      ks.mode = "up";
    }
  });
});

describe("an issuer resolver never sees an iss with credentials", () => {
  it("the token is refused without a call to the resolver", async () => {
    const asked: string[] = [];
    const verifier = createVerifier({
      issuers: (iss) => {
        asked.push(iss);
        return { audience: API, jwksUri: ks.jwksUri };
      },
    });
    const token = await ks.sign({ iss: withCredentials(ks.issuer) });
    const error = await rejected(verifier.verify(token));
    expect(error).toMatchObject({ code: "ERR_JWT_ISSUER" });
    expect(asked).toEqual([]);
    expect((error as Error).message).not.toContain(PASSWORD);
  });
});
