/**
 * Provider presets on both ends. Client: the request each preset sends (target parameter, client
 * authentication), seen by a real HTTP server. Verifier: tokens shaped as each provider documents
 * them (issuer form, aud shape, where the scopes and the client id live), signed by a local key server.
 */
import type { JWTPayload } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, createVerifier, type ProviderName } from "../../src/index.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

let server: FaultServer;
let ks: KeyServer;
beforeAll(async () => {
  server = await startFaultServer();
  ks = await startKeyServer();
});
afterAll(async () => {
  await server.close();
  await ks.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const API = "https://api.example.com";
/** The application (client) id of the protected API in Entra (what a v2.0 token carries as aud). */
const ENTRA_API_CLIENT_ID = "6e2f1b8a-4c3d-4e5f-9a7b-0c1d2e3f4a5b";

describe("client presets: the token request each provider expects", () => {
  it.each<[ProviderName, "audience" | "resource" | null, string, "basic" | "post"]>([
    ["auth0", "audience", "read:data", "post"],
    ["kinde", "audience", "read:data", "post"],
    ["authgear", "resource", "read:data", "post"],
    ["asgardeo", null, "read:data", "basic"],
    ["okta", null, "read:data", "basic"],
    ["keycloak", null, "read:data", "basic"],
    ["cognito", null, `${API}/read:data`, "basic"],
    ["zitadel", null, `read:data urn:zitadel:iam:org:project:id:${API}:aud`, "basic"],
    ["hydra", "audience", "read:data", "basic"],
  ])("%s: target %s, scope %s, client_secret_%s", async (provider, target, scope, auth) => {
    server.script(tokenReply());
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "app",
      clientSecret: "secret",
      provider,
    });
    await client.getToken({ audience: API, scope: "read:data" });
    const [request] = server.requests;
    const params = new URLSearchParams(request?.body);
    expect(params.get("grant_type")).toBe("client_credentials");
    expect(params.get("scope")).toBe(scope);
    expect(params.get("audience")).toBe(target === "audience" ? API : null);
    expect(params.get("resource")).toBe(target === "resource" ? API : null);
    if (auth === "basic") {
      expect(request?.headers.authorization).toBe(`Basic ${btoa("app:secret")}`);
      expect(params.get("client_secret")).toBeNull();
    } else {
      expect(request?.headers.authorization).toBeUndefined();
      expect(params.get("client_secret")).toBe("secret");
    }
  });

  it("entra: { audience } is sent as scope={audience}/.default, client_secret_post", async () => {
    server.script(tokenReply());
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "app",
      clientSecret: "secret",
      provider: "entra",
    });
    await client.getToken({ audience: "api://orders" });
    await client.getToken({ audience: "https://graph.microsoft.com/" });
    const [first, second] = server.requests.map((r) => Object.fromEntries(new URLSearchParams(r.body)));
    expect(first).toEqual({
      grant_type: "client_credentials",
      scope: "api://orders/.default",
      client_id: "app",
      client_secret: "secret",
    });
    expect(second?.scope).toBe("https://graph.microsoft.com/.default");
  });

  it("entra: a scope list beside an audience, or no audience at all, is a TypeError that explains .default", async () => {
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "app",
      clientSecret: "secret",
      provider: "entra",
    });
    const beside = await client
      .getToken({ audience: "api://orders", scope: ["Orders.Read"] })
      .catch((e) => e);
    expect(beside).toBeInstanceOf(TypeError);
    expect(beside.message).toMatch(/\.default/);
    expect(beside.message).toMatch(/app roles/);
    const none = await client.getToken({ scope: "Orders.Read" }).catch((e) => e);
    expect(none).toBeInstanceOf(TypeError);
    expect(none.message).toMatch(/needs an audience/);
    expect(server.requests).toHaveLength(0);
    // The same check holds before discovery.
    const discovering = new ClientCredentialsClient({
      issuer: server.url,
      clientId: "app",
      clientSecret: "secret",
      provider: "entra",
    });
    await expect(discovering.getToken({ audience: "api://orders", scope: "Orders.Read" })).rejects.toThrow(
      TypeError,
    );
    expect(server.requests).toHaveLength(0);
  });

  it.each<[ProviderName, { audience?: string; scope: string }, string]>([
    ["entra", { scope: "api://orders/.default" }, "api://orders/.default"],
    ["entra", { audience: "api://orders", scope: "api://orders/.default" }, "api://orders/.default"],
    ["cognito", { audience: API, scope: `${API}/read write` }, `${API}/read ${API}/write`],
    ["cognito", { scope: "orders/read" }, "orders/read"],
    [
      "zitadel",
      { audience: "123", scope: "openid urn:zitadel:iam:org:project:id:123:aud" },
      "openid urn:zitadel:iam:org:project:id:123:aud",
    ],
    ["zitadel", { scope: "urn:zitadel:iam:org:project:id:9:aud" }, "urn:zitadel:iam:org:project:id:9:aud"],
  ])("%s: a request in the provider's own form is sent as written (%j)", async (provider, request, scope) => {
    server.script(tokenReply());
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "app",
      clientSecret: "secret",
      provider,
    });
    await client.getToken(request);
    expect(new URLSearchParams(server.requests[0]?.body).get("scope")).toBe(scope);
  });

  it("an explicit audienceParam replaces the preset's translation", async () => {
    server.script(tokenReply());
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "app",
      clientSecret: "secret",
      provider: "cognito",
      audienceParam: "resource",
    });
    await client.getToken({ audience: API, scope: "read" });
    const params = new URLSearchParams(server.requests[0]?.body);
    expect([params.get("scope"), params.get("resource")]).toEqual(["read", API]);
  });

  it("provider error fields land on OAuthError (Entra error_codes and trace_id, Hydra status_code)", async () => {
    server.script({
      status: 400,
      json: {
        error: "invalid_scope",
        error_description: "AADSTS70011",
        error_codes: [70011],
        trace_id: "t-1",
        status_code: 400,
      },
    });
    const error = await new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "a",
      clientSecret: "s",
      provider: "entra",
    })
      .getToken({ scope: "api://app/.default" })
      .catch((e) => e);
    expect(error.error).toBe("invalid_scope");
    expect(error.body).toMatchObject({ error_codes: [70011], trace_id: "t-1", status_code: 400 });
  });
});

interface Shape {
  provider: ProviderName;
  issuer: (base: string) => string;
  audience: string;
  claims: (base: string) => JWTPayload;
  typ?: string;
  scopes: string[];
  clientId: string;
}

const SHAPES: Shape[] = [
  {
    provider: "auth0",
    issuer: (b) => `${b}/`,
    audience: API,
    typ: "JWT",
    claims: (b) => ({
      aud: [API, `${b}/userinfo`],
      azp: "auth0-app",
      sub: "auth0-app@clients",
      gty: "client-credentials",
      scope: "read:data",
      permissions: ["read:data", "write:data"],
    }),
    scopes: ["read:data", "write:data"],
    clientId: "auth0-app",
  },
  {
    provider: "kinde",
    issuer: (b) => `${b}/kinde`,
    audience: API,
    claims: () => ({
      aud: [API],
      azp: "kinde-app",
      gty: ["client_credentials"],
      scope: "read:data",
      scp: ["read:data"],
    }),
    scopes: ["read:data"],
    clientId: "kinde-app",
  },
  {
    provider: "authgear",
    issuer: (b) => `${b}/authgear`,
    audience: API,
    typ: "at+jwt",
    claims: () => ({ aud: [API], client_id: "authgear-app", scope: "read:data write:data" }),
    scopes: ["read:data", "write:data"],
    clientId: "authgear-app",
  },
  {
    provider: "asgardeo",
    issuer: (b) => `${b}/t/acme/oauth2/token`,
    audience: "asgardeo-app",
    typ: "at+jwt",
    claims: () => ({ aud: "asgardeo-app", client_id: "asgardeo-app", scope: "read_data" }),
    scopes: ["read_data"],
    clientId: "asgardeo-app",
  },
  {
    provider: "okta",
    issuer: (b) => `${b}/oauth2/default`,
    audience: "api://default",
    claims: () => ({ aud: "api://default", cid: "okta-app", scp: ["read:data"], scope: "ignored-by-preset" }),
    scopes: ["read:data"],
    clientId: "okta-app",
  },
  {
    provider: "keycloak",
    issuer: (b) => `${b}/realms/acme`,
    audience: "orders-api",
    typ: "JWT",
    claims: () => ({
      aud: ["orders-api", "account"],
      azp: "kc-app",
      scope: "profile",
      realm_access: { roles: ["read:data"] },
      resource_access: { "orders-api": { roles: ["write:data"] }, account: { roles: ["view-profile"] } },
    }),
    scopes: ["profile", "read:data", "write:data"],
    clientId: "kc-app",
  },
  {
    // v2.0: aud is always the API's client id (Entra access token claims reference).
    provider: "entra",
    issuer: (b) => `${b}/tenant-id/v2.0`,
    audience: ENTRA_API_CLIENT_ID,
    claims: () => ({ aud: ENTRA_API_CLIENT_ID, azp: "entra-app", roles: ["Orders.Read"], ver: "2.0" }),
    scopes: ["Orders.Read"],
    clientId: "entra-app",
  },
  {
    provider: "cognito",
    issuer: (b) => `${b}/eu-west-1_pool`,
    audience: "cognito-app",
    claims: () => ({ client_id: "cognito-app", token_use: "access", scope: "orders/read" }),
    scopes: ["orders/read"],
    clientId: "cognito-app",
  },
  {
    provider: "zitadel",
    issuer: (b) => `${b}/zitadel`,
    audience: "project-123",
    claims: () => ({
      aud: ["project-123", "zitadel-app"],
      client_id: "zitadel-app",
      "urn:zitadel:iam:org:project:roles": { reader: { "org-1": "acme" } },
    }),
    scopes: ["reader"],
    clientId: "zitadel-app",
  },
  {
    provider: "hydra",
    issuer: (b) => `${b}/hydra/`,
    audience: API,
    claims: () => ({ aud: [API], client_id: "hydra-app", scp: ["read:data"] }),
    scopes: ["read:data"],
    clientId: "hydra-app",
  },
];

async function tokenFor(shape: Shape, overrides: JWTPayload = {}, omit: string[] = []) {
  const claims = { ...shape.claims(ks.issuer), iss: shape.issuer(ks.issuer), ...overrides };
  return ks.sign(claims, {
    header: shape.typ ? { typ: shape.typ } : {},
    omit: shape.claims(ks.issuer).aud ? omit : ["aud", ...omit],
  });
}

function verifierFor(shape: Shape) {
  return createVerifier({
    provider: shape.provider,
    issuer: shape.issuer(ks.issuer),
    audience: shape.audience,
    jwksUri: ks.jwksUri,
  });
}

describe("verifier presets: each provider's token shape", () => {
  it.each(SHAPES.map((s) => [s.provider, s] as const))(
    "%s tokens verify with the right scopes and client id",
    async (_name, shape) => {
      const auth = await verifierFor(shape).verify(await tokenFor(shape));
      expect([...auth.scopes].sort()).toEqual([...shape.scopes].sort());
      expect(auth.clientId).toBe(shape.clientId);
    },
  );

  it.each(SHAPES.map((s, i) => [s.provider, s, SHAPES[(i + 1) % SHAPES.length] as Shape] as const))(
    "%s refuses a token shaped for another provider",
    async (_name, shape, other) => {
      const error = await verifierFor(shape)
        .verify(await tokenFor(other))
        .catch((e) => e);
      expect(error.code).toMatch(/^ERR_(JWT_ISSUER|JWT_AUDIENCE|CLAIM_POLICY)$/);
    },
  );

  it("cognito: an ID token (token_use id) or another app client is refused; aud is not required", async () => {
    const shape = SHAPES.find((s) => s.provider === "cognito") as Shape;
    const verifier = verifierFor(shape);
    await expect(verifier.verify(await tokenFor(shape, { token_use: "id" }))).rejects.toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
    await expect(verifier.verify(await tokenFor(shape, { client_id: "other-app" }))).rejects.toMatchObject({
      code: "ERR_JWT_AUDIENCE",
    });
  });

  it("entra: v1 and v2 tokens of one tenant are both accepted with both issuers and both audiences", async () => {
    // v2.0 tokens: iss .../{tenant}/v2.0, aud the API's client id, azp. v1.0 tokens: iss
    // https://sts.windows.net/{tenant}/, aud the client id or the App ID URI that was requested, appid.
    const shape = SHAPES.find((s) => s.provider === "entra") as Shape;
    const v1 = `${ks.issuer}/sts/tenant-id/`;
    const onlyV2 = createVerifier({
      provider: "entra",
      issuer: [shape.issuer(ks.issuer), v1],
      audience: ENTRA_API_CLIENT_ID,
      jwksUri: ks.jwksUri,
    });
    const verifier = createVerifier({
      provider: "entra",
      issuer: [shape.issuer(ks.issuer), v1],
      audience: [ENTRA_API_CLIENT_ID, "api://orders"],
      jwksUri: ks.jwksUri,
    });
    const v1Token = await ks.sign({
      iss: v1,
      aud: "api://orders",
      appid: "entra-v1-app",
      roles: ["Orders.Read"],
      ver: "1.0",
    });
    await expect(verifier.verify(v1Token)).resolves.toMatchObject({
      clientId: "entra-v1-app",
      scopes: ["Orders.Read"],
    });
    // The App ID URI a v1 client requested is not the client id: without it in audience, refused.
    await expect(onlyV2.verify(v1Token)).rejects.toMatchObject({ code: "ERR_JWT_AUDIENCE" });
    await expect(onlyV2.verify(await tokenFor(shape))).resolves.toMatchObject({ clientId: "entra-app" });
    await expect(verifier.verify(await tokenFor(shape))).resolves.toMatchObject({ clientId: "entra-app" });
  });

  it("an explicit option wins over the preset", async () => {
    const shape = SHAPES.find((s) => s.provider === "okta") as Shape;
    const verifier = createVerifier({
      provider: "okta",
      scopeClaim: "scope",
      issuer: shape.issuer(ks.issuer),
      audience: shape.audience,
      jwksUri: ks.jwksUri,
    });
    expect((await verifier.verify(await tokenFor(shape))).scopes).toEqual(["ignored-by-preset"]);
  });
});

describe("tenant instead of issuer", () => {
  it.each<[ProviderName, string, string]>([
    ["auth0", "acme.eu.auth0.com", "https://acme.eu.auth0.com/"],
    ["auth0", "acme", "https://acme.auth0.com/"],
    ["kinde", "acme", "https://acme.kinde.com"],
    ["authgear", "acme", "https://acme.authgear.cloud"],
    ["asgardeo", "acme", "https://api.asgardeo.io/t/acme/oauth2/token"],
    ["okta", "acme.okta.com", "https://acme.okta.com/oauth2/default"],
    ["entra", "tid", "https://login.microsoftonline.com/tid/v2.0"],
    ["cognito", "eu-west-1_AbC", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"],
    ["zitadel", "acme", "https://acme.zitadel.cloud"],
    ["hydra", "acme", "https://acme.projects.oryapis.com/"],
  ])("%s %s → %s", (provider, tenant, issuer) => {
    const client = new ClientCredentialsClient({ provider, tenant, clientId: "app", clientSecret: "s" });
    expect(client.toJSON().issuer).toBe(issuer);
  });

  it("keycloak needs an issuer; tenant without provider is refused", () => {
    expect(
      () =>
        new ClientCredentialsClient({ provider: "keycloak", tenant: "x", clientId: "a", clientSecret: "s" }),
    ).toThrow(/realms/);
    expect(() => new ClientCredentialsClient({ tenant: "x", clientId: "a", clientSecret: "s" })).toThrow(
      /tenant needs provider/,
    );
  });

  it("an Entra verifier built from the tenant accepts its v2 and v1 issuers, and no other tenant's", async () => {
    const verifier = createVerifier({
      provider: "entra",
      tenant: "tid",
      audience: "api://orders",
      jwksUri: ks.jwksUri,
    });
    for (const iss of ["https://login.microsoftonline.com/tid/v2.0", "https://sts.windows.net/tid/"]) {
      await expect(
        verifier.verify(await ks.sign({ iss, aud: "api://orders", azp: "app", roles: ["R"] })),
      ).resolves.toMatchObject({ clientId: "app" });
    }
    const other = await ks.sign({ iss: "https://login.microsoftonline.com/other/v2.0", aud: "api://orders" });
    await expect(verifier.verify(other)).rejects.toMatchObject({ code: "ERR_JWT_ISSUER" });
  });
});
