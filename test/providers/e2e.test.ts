/**
 * End to end per provider: an oidc-provider dressed as that provider (issuer form, request style,
 * client authentication, token shape); the client preset gets a token, the verifier preset accepts it
 * with the right scopes and client id, and a token shaped for another provider is refused.
 */

import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asgardeo } from "../../examples/providers/asgardeo.js";
import { auth0 } from "../../examples/providers/auth0.js";
import { authgear } from "../../examples/providers/authgear.js";
import { kinde } from "../../examples/providers/kinde.js";
import { ClientCredentialsClient, createVerifier, type ProviderName } from "../../src/index.js";
import {
  type ShapedProvider,
  type ShapedProviderOptions,
  startShapedProvider,
} from "../support/shaped-provider.js";

type Payload = Record<string, unknown>;
const scopesOf = (p: Payload) =>
  String(p.scope ?? "")
    .split(" ")
    .filter(Boolean);

interface Case {
  provider: ProviderName;
  server: Omit<ShapedProviderOptions, "client" | "api"> & {
    api?: ShapedProviderOptions["api"];
    authMethod: "client_secret_basic" | "client_secret_post";
  };
  /** What the app asks for: the one call shape of every provider. */
  request: { audience: string; scope?: string };
  /** The form parameters the provider receives for it (client authentication left out). */
  sent: Record<string, string>;
  /** The audience the API's verifier is configured with. */
  audience: string;
  scopes: string[];
}

const API = { identifier: "https://orders.example.com", scopes: ["read:orders", "write:orders"] };

/** The application (client) id of the protected API in Entra (what a v2.0 token carries as aud). */
const ENTRA_API_CLIENT_ID = "6e2f1b8a-4c3d-4e5f-9a7b-0c1d2e3f4a5b";

const CASES: Case[] = [
  {
    provider: "auth0",
    server: {
      issuerPath: "",
      trailingSlash: true,
      reads: "audience",
      authMethod: "client_secret_post",
      shape: (p, h) => {
        h.typ = "JWT";
        p.azp = p.client_id;
        p.sub = `${p.client_id}@clients`;
        p.gty = "client-credentials";
        p.permissions = scopesOf(p);
        delete p.client_id;
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders", audience: API.identifier },
    audience: API.identifier,
    scopes: ["read:orders"],
  },
  {
    provider: "kinde",
    server: {
      issuerPath: "",
      reads: "audience",
      authMethod: "client_secret_post",
      shape: (p) => {
        p.azp = p.client_id;
        p.scp = scopesOf(p);
        p.gty = ["client_credentials"];
        p.aud = [p.aud];
        delete p.client_id;
      },
    },
    request: { audience: API.identifier, scope: "read:orders write:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders write:orders", audience: API.identifier },
    audience: API.identifier,
    scopes: ["read:orders", "write:orders"],
  },
  {
    provider: "authgear",
    server: {
      issuerPath: "",
      reads: "resource",
      authMethod: "client_secret_post",
      shape: (p) => {
        p.aud = [p.aud];
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders", resource: API.identifier },
    audience: API.identifier,
    scopes: ["read:orders"],
  },
  {
    provider: "asgardeo",
    server: {
      issuerPath: "/t/acme/oauth2/token",
      reads: "scope",
      authMethod: "client_secret_basic",
      shape: (p) => {
        p.aud = p.client_id;
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders" },
    audience: "app-asgardeo",
    scopes: ["read:orders"],
  },
  {
    provider: "okta",
    server: {
      issuerPath: "/oauth2/default",
      reads: "scope",
      authMethod: "client_secret_basic",
      shape: (p, h) => {
        delete h.typ;
        h.typ = undefined;
        p.cid = p.client_id;
        p.scp = scopesOf(p);
        delete p.client_id;
        delete p.scope;
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders" },
    audience: API.identifier,
    scopes: ["read:orders"],
  },
  {
    provider: "keycloak",
    server: {
      issuerPath: "/realms/acme",
      reads: "scope",
      authMethod: "client_secret_basic",
      shape: (p, h) => {
        h.typ = "JWT";
        p.azp = p.client_id;
        p.realm_access = { roles: scopesOf(p) };
        // Roles of another client (Keycloak's own account console) are not this API's.
        p.resource_access = { account: { roles: ["view-profile"] }, [String(p.aud)]: { roles: ["audit"] } };
        p.scope = "profile email";
        delete p.client_id;
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders" },
    audience: API.identifier,
    scopes: ["profile", "email", "read:orders", "audit"],
  },
  {
    provider: "entra",
    server: {
      issuerPath: "/tenant-id/v2.0",
      reads: "entra",
      authMethod: "client_secret_post",
      api: { identifier: "api://orders", scopes: ["Orders.Read"] },
      // A v2.0 access token: aud is always the API's application (client) id, even when the client
      // asked for the App ID URI; the calling app is azp; app permissions are in roles
      // (learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
      shape: (p) => {
        p.azp = p.client_id;
        p.roles = scopesOf(p);
        p.ver = "2.0";
        p.aud = ENTRA_API_CLIENT_ID;
        delete p.scope;
        delete p.client_id;
      },
    },
    request: { audience: "api://orders" },
    sent: { grant_type: "client_credentials", scope: "api://orders/.default" },
    audience: ENTRA_API_CLIENT_ID,
    scopes: ["Orders.Read"],
  },
  {
    provider: "cognito",
    server: {
      issuerPath: "/eu-west-1_pool",
      reads: "cognito",
      authMethod: "client_secret_basic",
      api: { identifier: "https://orders.example.com", scopes: ["https://orders.example.com/read"] },
      shape: (p) => {
        p.token_use = "access";
        // Cognito access tokens carry no aud: keep oidc-provider's check happy but out of the JWT.
        const aud = p.aud;
        delete p.aud;
        Object.defineProperty(p, "aud", {
          value: aud,
          enumerable: false,
          writable: true,
          configurable: true,
        });
      },
    },
    request: { audience: "https://orders.example.com", scope: "read" },
    sent: { grant_type: "client_credentials", scope: "https://orders.example.com/read" },
    audience: "app-cognito",
    scopes: ["https://orders.example.com/read"],
  },
  {
    provider: "zitadel",
    server: {
      issuerPath: "",
      reads: "zitadel",
      authMethod: "client_secret_basic",
      shape: (p, _h, r) => {
        p["urn:zitadel:iam:org:project:roles"] = Object.fromEntries(
          scopesOf(p).map((s) => [s, { "org-1": "acme" }]),
        );
        // The project is in aud only when the request asks for it in scope.
        const asked = (r.get("scope") ?? "").includes("urn:zitadel:iam:org:project:id:project-123:aud");
        p.aud = asked ? ["project-123", p.client_id] : [p.client_id];
        delete p.scope;
      },
    },
    request: { audience: "project-123", scope: "read:orders" },
    sent: {
      grant_type: "client_credentials",
      scope: "read:orders urn:zitadel:iam:org:project:id:project-123:aud",
    },
    audience: "project-123",
    scopes: ["read:orders"],
  },
  {
    provider: "hydra",
    server: {
      issuerPath: "",
      trailingSlash: true,
      reads: "audience",
      authMethod: "client_secret_basic",
      shape: (p) => {
        p.scp = scopesOf(p);
        p.aud = [p.aud];
        delete p.scope;
      },
    },
    request: { audience: API.identifier, scope: "read:orders" },
    sent: { grant_type: "client_credentials", scope: "read:orders", audience: API.identifier },
    audience: API.identifier,
    scopes: ["read:orders"],
  },
];

const servers = new Map<ProviderName, ShapedProvider>();
const tokens = new Map<ProviderName, string>();

beforeAll(async () => {
  for (const c of CASES) {
    servers.set(
      c.provider,
      await startShapedProvider({
        ...c.server,
        api: c.server.api ?? API,
        client: {
          clientId: `app-${c.provider}`,
          clientSecret: `secret-${c.provider}`,
          authMethod: c.server.authMethod,
        },
      }),
    );
  }
});
afterAll(async () => {
  for (const server of servers.values()) await server.close();
});

function verifierFor(c: Case) {
  return createVerifier({
    provider: c.provider,
    issuer: (servers.get(c.provider) as ShapedProvider).issuer,
    audience: c.audience,
  });
}

describe.each(CASES.map((c) => [c.provider, c] as const))("%s", (provider, c) => {
  it("getToken({ audience, scope }) gets a token with the exact parameters the provider reads; the verifier preset accepts it", async () => {
    const server = servers.get(provider) as ShapedProvider;
    const client = new ClientCredentialsClient({
      provider,
      issuer: server.issuer,
      clientId: `app-${provider}`,
      clientSecret: `secret-${provider}`,
    });
    server.received.length = 0;
    const token = await client.getToken(c.request);
    expect(server.received).toEqual([c.sent]);
    tokens.set(provider, token.accessToken);
    if (provider === "cognito") expect(decodeJwt(token.accessToken).aud).toBeUndefined();
    const auth = await verifierFor(c).verify(token.accessToken);
    expect([...auth.scopes].sort()).toEqual([...c.scopes].sort());
    expect(auth.clientId).toBe(`app-${provider}`);
    await client.close();
  });
});

describe("the providers that name the API in scope refuse the plain request a client without translation sends", () => {
  const untranslated = (provider: ProviderName) =>
    new ClientCredentialsClient({
      provider,
      // An explicit audienceParam turns the preset's translation off: what the client sent before.
      audienceParam: "none",
      issuer: (servers.get(provider) as ShapedProvider).issuer,
      clientId: `app-${provider}`,
      clientSecret: `secret-${provider}`,
    });
  const caseOf = (provider: ProviderName) => CASES.find((c) => c.provider === provider) as Case;

  it("entra answers AADSTS900144; with the preset a scope list beside the audience is a TypeError", async () => {
    const error = await untranslated("entra")
      .getToken({ audience: "api://orders" })
      .catch((e) => e);
    expect(error.code).toBe("ERR_OAUTH");
    expect(error.errorDescription).toMatch(/^AADSTS900144/);
    const server = servers.get("entra") as ShapedProvider;
    server.received.length = 0;
    const client = new ClientCredentialsClient({
      provider: "entra",
      issuer: server.issuer,
      clientId: "app-entra",
      clientSecret: "secret-entra",
    });
    const typeError = await client
      .getToken({ audience: "api://orders", scope: ["Orders.Read"] })
      .catch((e) => e);
    expect(typeError).toBeInstanceOf(TypeError);
    expect(typeError.message).toMatch(/\/\.default/);
    expect(server.received).toEqual([]);
  });

  it("cognito answers invalid_scope", async () => {
    const error = await untranslated("cognito")
      .getToken(caseOf("cognito").request)
      .catch((e) => e);
    expect([error.code, error.error]).toEqual(["ERR_OAUTH", "invalid_scope"]);
  });

  it("zitadel issues a token without the project in aud, which the API refuses", async () => {
    const c = caseOf("zitadel");
    const token = await untranslated("zitadel").getToken(c.request);
    const error = await verifierFor(c)
      .verify(token.accessToken)
      .catch((e) => e);
    expect(error.code).toBe("ERR_JWT_AUDIENCE");
  });
});

describe("examples/providers run against their provider's shape", () => {
  it.each([
    ["auth0", auth0, { API_IDENTIFIER: API.identifier }, { audience: API.identifier, scope: "read:orders" }],
    ["kinde", kinde, { API_AUDIENCE: API.identifier }, { audience: API.identifier, scope: "read:orders" }],
    [
      "authgear",
      authgear,
      { RESOURCE_URI: API.identifier },
      { audience: API.identifier, scope: "read:orders" },
    ],
    ["asgardeo", asgardeo, {}, { scope: "read:orders" }],
  ] as const)("%s", async (provider, example, env, request) => {
    const { client, verifier } = example({
      ISSUER: (servers.get(provider) as ShapedProvider).issuer,
      CLIENT_ID: `app-${provider}`,
      CLIENT_SECRET: `secret-${provider}`,
      ...env,
    });
    const token = await client.getToken(request);
    const auth = await verifier.verify(token.accessToken, { requiredScopes: ["read:orders"] });
    expect(auth.clientId).toBe(`app-${provider}`);
    await client.close();
  });
});

describe("tokens shaped for another provider are refused", () => {
  it.each(CASES.map((c) => [c.provider, c] as const))("by the %s verifier", async (provider, c) => {
    const others = CASES.filter((o) => o.provider !== provider);
    expect(others.every((o) => tokens.has(o.provider))).toBe(true);
    for (const other of others) {
      const error = await verifierFor(c)
        .verify(tokens.get(other.provider) as string)
        .catch((e) => e);
      expect(error.code).toBe("ERR_JWT_ISSUER");
    }
  });
});
