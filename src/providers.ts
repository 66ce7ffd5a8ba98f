import type { AuthMethod } from "./oauth/client-auth.js";

/** Identity providers with a preset. A preset only sets defaults; every option can still be set. */
export type ProviderName =
  | "auth0"
  | "kinde"
  | "authgear"
  | "asgardeo"
  | "okta"
  | "keycloak"
  | "entra"
  | "cognito"
  | "zitadel"
  | "hydra";

/** How the target API is named in a token request. */
export type AudienceParam = "audience" | "resource" | "none";

/**
 * Providers that name the API inside `scope` instead of a parameter of its own: Entra
 * `{audience}/.default`, Cognito `{audience}/{scope}`, Zitadel `urn:zitadel:iam:org:project:id:{audience}:aud`.
 */
export type ScopeTarget = "entra" | "cognito" | "zitadel";

/**
 * How a provider wants the assertions a client signs itself (`private_key_jwt`, `client_secret_jwt`):
 * `aud` the issuer identifier with `typ: client-authentication+jwt` (draft-ietf-oauth-rfc7523bis), or
 * RFC 7523's old form, `aud` the token endpoint with `typ: JWT`.
 */
export interface AssertionRule {
  audience: "issuer" | "tokenEndpoint";
  typ: boolean;
}

/** draft-ietf-oauth-rfc7523bis: the issuer identifier as the one audience, explicitly typed. */
const RFC7523BIS: AssertionRule = { audience: "issuer", typ: true };
/** RFC 7523's old form: the token endpoint, `typ: JWT`. */
const TOKEN_ENDPOINT: AssertionRule = { audience: "tokenEndpoint", typ: false };

export interface ClientPreset {
  audienceParam: AudienceParam;
  authMethod: AuthMethod;
  /** How the audience is written into `scope`, when the provider names the API there. */
  scopeTarget?: ScopeTarget;
  /** The `aud` and `typ` of assertions the client signs, as the provider's document states them. */
  assertion: AssertionRule;
}

/** From each provider's M2M documentation. */
export const CLIENT_PRESETS: Readonly<Record<ProviderName, ClientPreset>> = {
  // Auth0, "Authenticate with Private Key JWT": aud is the tenant's domain URL, its issuer.
  auth0: { audienceParam: "audience", authMethod: "client_secret_post", assertion: RFC7523BIS },
  // Kinde documents client secrets only for M2M applications: the RFC 7523bis default.
  kinde: { audienceParam: "audience", authMethod: "client_secret_post", assertion: RFC7523BIS },
  // Authgear documents client secrets only for M2M applications: the RFC 7523bis default.
  authgear: { audienceParam: "resource", authMethod: "client_secret_post", assertion: RFC7523BIS },
  // Asgardeo, "Private key JWT client authentication": aud is the token endpoint.
  asgardeo: { audienceParam: "none", authMethod: "client_secret_basic", assertion: TOKEN_ENDPOINT },
  // Okta, "Build a JWT for client authentication": aud is the full URL of the token endpoint.
  okta: { audienceParam: "none", authMethod: "client_secret_basic", assertion: TOKEN_ENDPOINT },
  // Keycloak, "Client authentication with signed JWT": the realm's issuer is accepted as aud.
  keycloak: { audienceParam: "none", authMethod: "client_secret_basic", assertion: RFC7523BIS },
  // Entra, "Microsoft identity platform application authentication certificate credentials": aud is
  // https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token, the token endpoint; typ JWT.
  entra: {
    audienceParam: "none",
    authMethod: "client_secret_post",
    scopeTarget: "entra",
    assertion: TOKEN_ENDPOINT,
  },
  // Cognito app clients authenticate with a client secret only: the RFC 7523bis default.
  cognito: {
    audienceParam: "none",
    authMethod: "client_secret_basic",
    scopeTarget: "cognito",
    assertion: RFC7523BIS,
  },
  // Zitadel, "Private key JWT": aud is Zitadel's issuer (the instance's domain URL).
  zitadel: {
    audienceParam: "none",
    authMethod: "client_secret_basic",
    scopeTarget: "zitadel",
    assertion: RFC7523BIS,
  },
  // Ory Hydra, "OAuth2 client authentication" (private_key_jwt): aud is the token endpoint URL.
  hydra: { audienceParam: "audience", authMethod: "client_secret_basic", assertion: TOKEN_ENDPOINT },
};

/** Verifier defaults per provider: where scopes live, which claim names the audience, claim policies. */
export interface VerifierPreset {
  scopeClaim: readonly string[];
  /**
   * Where the roles that the API's own client or project defines live, as a path of claim keys for
   * each configured audience. Only the API's own count: another client's or project's roles are
   * another API's permissions.
   * - Keycloak: `resource_access.<client id>.roles`, one entry per client (the audience, or
   *   `resourceClientId`).
   * - Zitadel: `urn:zitadel:iam:org:project:<project id>:roles`, an object whose keys are the role
   *   names, asserted for each project of the token's audience when the token request has the scope
   *   `urn:zitadel:iam:org:projects:roles` (Zitadel, "Claims" and "Scopes" reference); the audience
   *   is the project id.
   */
  audienceRoles?: (audience: string) => readonly string[];
  audienceClaim?: string;
  claims?: Readonly<Record<string, string>>;
  /** The token's own tenant claim, checked against the tenant an issuer template captures. */
  tenantClaim?: string;
}

export const VERIFIER_PRESETS: Readonly<Record<ProviderName, VerifierPreset>> = {
  auth0: { scopeClaim: ["scope", "permissions"] },
  kinde: { scopeClaim: ["scope", "scp"] },
  authgear: { scopeClaim: ["scope"] },
  asgardeo: { scopeClaim: ["scope"] },
  okta: { scopeClaim: ["scp"] },
  keycloak: {
    scopeClaim: ["scope", "realm_access.roles"],
    audienceRoles: (client) => ["resource_access", client, "roles"],
  },
  entra: { scopeClaim: ["roles", "scp"], tenantClaim: "tid" },
  // Cognito access tokens have no aud: the app client id is in client_id, and token_use says "access".
  cognito: { scopeClaim: ["scope"], audienceClaim: "client_id", claims: { token_use: "access" } },
  zitadel: {
    scopeClaim: ["scope", "urn:zitadel:iam:org:project:roles"],
    audienceRoles: (project) => [`urn:zitadel:iam:org:project:${project}:roles`],
  },
  hydra: { scopeClaim: ["scp", "scope"] },
};

export const PROVIDER_NAMES = /* @__PURE__ */ Object.keys(CLIENT_PRESETS) as ProviderName[];

const HOST_PATTERNS: ReadonlyArray<[RegExp, ProviderName]> = [
  [/\.auth0\.com$/, "auth0"],
  [/\.kinde\.com$/, "kinde"],
  [/\.authgear\.cloud$/, "authgear"],
  [/^api\.asgardeo\.io$/, "asgardeo"],
  [/^login\.microsoftonline\.com$/, "entra"],
  [/\.okta\.com$/, "okta"],
  [/^cognito-idp\.[a-z0-9-]+\.amazonaws\.com$/, "cognito"],
  [/\.zitadel\.cloud$/, "zitadel"],
  [/\.oryapis\.com$/, "hydra"],
];

/** The preset implied by a well-known issuer or token endpoint host, if any. */
export function inferProvider(url: URL | undefined): ProviderName | undefined {
  if (!url) return undefined;
  return HOST_PATTERNS.find(([pattern]) => pattern.test(url.hostname))?.[1];
}

/**
 * The issuer templates a verifier's `tenant` stands for when it names every tenant of a provider:
 * Entra's `common` and `organizations` endpoints ("Microsoft identity platform: access tokens",
 * v2 and v1 issuers), each tenant's tokens carrying its own id in `iss` and `tid`.
 */
export function tenantTemplates(provider: ProviderName, tenant: string): string[] | undefined {
  if (provider === "entra" && (tenant === "common" || tenant === "organizations")) {
    return ["https://login.microsoftonline.com/{tenantid}/v2.0", "https://sts.windows.net/{tenantid}/"];
  }
  return undefined;
}

/**
 * Issuer(s) of a provider's tenant, for `tenant` instead of `issuer`: a domain, a subdomain or an id,
 * as each provider names it. Entra gives both the v2 and the v1 issuer (the verifier accepts both).
 */
export function tenantIssuers(provider: ProviderName, tenant: string): string[] {
  const host = (suffix: string) => (tenant.includes(".") ? tenant : `${tenant}${suffix}`);
  switch (provider) {
    case "auth0":
      return [`https://${host(".auth0.com")}/`];
    case "kinde":
      return [`https://${host(".kinde.com")}`];
    case "authgear":
      return [`https://${host(".authgear.cloud")}`];
    case "asgardeo":
      return [`https://api.asgardeo.io/t/${tenant}/oauth2/token`];
    case "okta":
      return [`https://${host(".okta.com")}/oauth2/default`];
    case "entra":
      return [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`];
    case "cognito": {
      const region = tenant.split("_")[0];
      return [`https://cognito-idp.${region}.amazonaws.com/${tenant}`];
    }
    case "zitadel":
      return [`https://${host(".zitadel.cloud")}`];
    case "hydra":
      return [`https://${host(".projects.oryapis.com")}/`];
    case "keycloak":
      throw new TypeError("tenant is not enough for keycloak: set issuer to https://{host}/realms/{realm}");
  }
}
