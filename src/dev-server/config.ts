import { M2MError } from "../errors.js";
import { closestName, isKnownName, type NameList, type OptionNames } from "../lib/option-names.js";
import { SCOPE_TOKEN } from "../oauth/scope.js";

/** An API resource, as registered in a provider's console. */
export interface DevApi {
  /** The API identifier: the token's audience (`resource` / `audience` parameter). */
  identifier: string;
  /** A display name, as in the console; not used in tokens. */
  name?: string;
  /** Scopes (permissions) the API defines. */
  scopes: string[];
  /** Access-token lifetime, in seconds (a positive integer). Default 3600. */
  tokenLifetimeSeconds?: number;
  /** Signing algorithm of its tokens. Default RS256. */
  signingAlg?: "RS256" | "PS256" | "ES256" | "EdDSA";
}

/** The fields of {@link DevApi}. */
const DEV_API_FIELDS: OptionNames<DevApi> = {
  identifier: true,
  name: true,
  scopes: true,
  tokenLifetimeSeconds: true,
  signingAlg: true,
};

/**
 * A federated credential: the app authenticates with a token another issuer gave the workload (a
 * Kubernetes service-account token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID) instead of a
 * secret, as Entra ID's federated identity credentials and Keycloak's `federated-jwt` do. The token is
 * trusted when its issuer's key signed it, its `sub` is `subject`, its `aud` holds `audience` and it
 * has not expired; it may be presented again within its lifetime.
 */
export interface DevFederatedCredential {
  /**
   * The token's issuer (`iss`), exactly (`https://token.actions.githubusercontent.com`, a cluster's
   * service-account issuer). For SPIFFE JWT-SVIDs: the trust domain, `spiffe://example.org`.
   */
  issuer: string;
  /** The token's subject (`sub`), exactly: `system:serviceaccount:<namespace>:<name>`, `repo:<owner>/<repo>:ref:refs/heads/main`, a SPIFFE ID. */
  subject: string;
  /**
   * A value the token's `aud` must hold (Entra's recommended value is `api://AzureADTokenExchange`).
   * Default: the dev server's issuer identifier (draft-ietf-oauth-rfc7523bis).
   */
  audience?: string;
  /**
   * The issuer's JWK Set URL. Default: `jwks_uri` of the issuer's OpenID discovery document
   * (`<issuer>/.well-known/openid-configuration`). Required for a SPIFFE trust domain (its bundle
   * endpoint, which cannot be discovered).
   */
  jwksUri?: string;
  /** A display name, as in the console. */
  name?: string;
}

/** The fields of {@link DevFederatedCredential}. */
const DEV_FEDERATED_FIELDS: OptionNames<DevFederatedCredential> = {
  issuer: true,
  subject: true,
  audience: true,
  jwksUri: true,
  name: true,
};

/**
 * The grant types an app may use: `client_credentials` (RFC 6749 §4.4), `token-exchange` (RFC 8693,
 * `urn:ietf:params:oauth:grant-type:token-exchange`) and `jwt-bearer` (RFC 7523 §2.1,
 * `urn:ietf:params:oauth:grant-type:jwt-bearer`, with an assertion of a federated issuer).
 */
export type DevGrantType = "client_credentials" | "token-exchange" | "jwt-bearer";

/** An M2M application, as registered in a provider's console. */
export interface DevApp {
  /** A display name, as in the console. */
  name?: string;
  /** The app's client id; unique in the file. */
  clientId: string;
  /**
   * The app's secret, for the `client_secret_*` methods (at least 32 characters for
   * `client_secret_jwt`). A dev secret: the file is for local development only.
   */
  clientSecret?: string;
  /** Public keys for `private_key_jwt`. */
  jwks?: {
    /** Public JWKs (RFC 7517) the app's assertions are checked against. */
    keys: Record<string, unknown>[];
  };
  /**
   * How the app authenticates at the token endpoint. Default: `private_key_jwt` with `jwks` or
   * `federated`, else `client_secret_basic`.
   */
  authMethod?: "client_secret_basic" | "client_secret_post" | "client_secret_jwt" | "private_key_jwt";
  /** A disabled app gets `invalid_client`. Default true. */
  enabled?: boolean;
  /**
   * The app must use DPoP (RFC 9449): its token requests need a proof and its tokens are DPoP-bound
   * (`cnf.jkt`); oidc-provider's `dpop_bound_access_tokens` client metadata. Default false (other apps
   * may still send a proof and get a bound token).
   */
  dpop?: boolean;
  /**
   * Tokens of other issuers the app may authenticate with (`client_assertion_type`
   * `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` with `client_id`, or `…:jwt-spiffe`), and
   * whose `jwt-bearer` assertions it may present. Such an app authenticates with `private_key_jwt`.
   */
  federated?: DevFederatedCredential[];
  /** The grant types the app may use. Default `["client_credentials"]`. */
  grantTypes?: DevGrantType[];
  /** API identifier → the scopes of that API the app is authorized for. */
  grants: Record<string, string[]>;
}

/** The fields of {@link DevApp}. */
const DEV_APP_FIELDS: OptionNames<DevApp> = {
  name: true,
  clientId: true,
  clientSecret: true,
  jwks: true,
  authMethod: true,
  enabled: true,
  dpop: true,
  federated: true,
  grantTypes: true,
  grants: true,
};

/** A note for readers, allowed in every object of the file (as the JSON Schema says). */
const COMMENT: NameList = { $comment: true };

/**
 * The dev server's configuration (`m2m.dev.json`, JSON Schema in `m2m.dev.schema.json`): what a
 * provider's console holds for M2M. `$schema` and `$comment` keys are allowed; any other unknown key
 * is a {@link DevConfigError}.
 */
export interface DevConfig {
  /** The APIs (resource servers), at least one. */
  apis: DevApi[];
  /** The M2M applications, at least one. */
  apps: DevApp[];
}

/** A configuration problem, naming the file and the path inside it. */
export class DevConfigError extends M2MError {
  /** The configuration file's absolute path (`"config"` for a configuration passed as an object). */
  readonly file: string;
  /** JSON path of the problem inside the file (`apps[0].grants`), or `""` for the whole file. */
  readonly path: string;

  constructor(file: string, path: string, problem: string) {
    super("ERR_DEV_CONFIG", `${file}: ${path ? `${path}: ` : ""}${problem}`);
    this.file = file;
    this.path = path;
  }
}

/**
 * An optional peer dependency a feature needs is not installed (the dev server needs `oidc-provider`).
 * The message says what to install.
 */
export class MissingPeerDependencyError extends M2MError {
  /** The package to install. */
  readonly packageName: string;

  constructor(packageName: string, feature: string, options?: { cause?: unknown }) {
    super(
      "ERR_MISSING_PEER_DEPENDENCY",
      `${feature} needs the ${packageName} package: npm install --save-dev ${packageName}`,
      options,
    );
    this.packageName = packageName;
  }
}

const ALGS = ["RS256", "PS256", "ES256", "EdDSA"];
const METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"];
const GRANT_TYPES: readonly DevGrantType[] = ["client_credentials", "token-exchange", "jwt-bearer"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks a parsed configuration; every problem names the file and the JSON path. */
export function validateDevConfig(value: unknown, file = "m2m.dev.json"): DevConfig {
  const fail = (path: string, problem: string): never => {
    throw new DevConfigError(file, path, problem);
  };
  if (!isObject(value)) fail("", "the configuration must be a JSON object with apis and apps");
  const config = value as Record<string, unknown>;
  const unknownFields = (object: Record<string, unknown>, at: string, fields: NameList) => {
    for (const key of Object.keys(object)) {
      if (isKnownName(key, [fields, COMMENT])) continue;
      const meant = closestName(key, Object.keys(fields));
      fail(
        at ? `${at}.${key}` : key,
        `unknown field (${meant === undefined ? `expected ${Object.keys(fields).join(", ")}` : `did you mean ${meant}?`})`,
      );
    }
  };
  unknownFields(config, "", { apis: true, apps: true, $schema: true });
  if (!Array.isArray(config.apis) || config.apis.length === 0) fail("apis", "must be a non-empty array");
  if (!Array.isArray(config.apps) || config.apps.length === 0) fail("apps", "must be a non-empty array");
  const apis = new Map<string, Set<string>>();
  (config.apis as unknown[]).forEach((api, i) => {
    const at = `apis[${i}]`;
    if (!isObject(api)) throw new DevConfigError(file, at, "must be an object");
    unknownFields(api, at, DEV_API_FIELDS);
    if (typeof api.identifier !== "string" || api.identifier === "")
      fail(`${at}.identifier`, "must be a non-empty string");
    const identifier = api.identifier as string;
    if (!URL.canParse(identifier))
      fail(`${at}.identifier`, `"${identifier}" is not an absolute URI (RFC 8707)`);
    if (apis.has(identifier)) fail(`${at}.identifier`, `duplicate API "${identifier}"`);
    if (api.name !== undefined && typeof api.name !== "string") fail(`${at}.name`, "must be a string");
    if (!Array.isArray(api.scopes)) fail(`${at}.scopes`, "must be an array of scope names");
    (api.scopes as unknown[]).forEach((scope, j) => {
      if (typeof scope !== "string" || !SCOPE_TOKEN.test(scope))
        fail(`${at}.scopes[${j}]`, "is not a valid scope name");
    });
    const lifetime = api.tokenLifetimeSeconds;
    if (lifetime !== undefined && (!Number.isSafeInteger(lifetime) || (lifetime as number) <= 0)) {
      fail(`${at}.tokenLifetimeSeconds`, "must be a positive integer");
    }
    if (api.signingAlg !== undefined && !ALGS.includes(api.signingAlg as string)) {
      fail(`${at}.signingAlg`, `must be one of ${ALGS.join(", ")}`);
    }
    apis.set(identifier, new Set(api.scopes as string[]));
  });
  const clientIds = new Set<string>();
  (config.apps as unknown[]).forEach((app, i) => {
    const at = `apps[${i}]`;
    if (!isObject(app)) throw new DevConfigError(file, at, "must be an object");
    unknownFields(app, at, DEV_APP_FIELDS);
    if (typeof app.clientId !== "string" || app.clientId === "")
      fail(`${at}.clientId`, "must be a non-empty string");
    if (clientIds.has(app.clientId as string))
      fail(`${at}.clientId`, `duplicate client id "${app.clientId}"`);
    clientIds.add(app.clientId as string);
    const federated = app.federated !== undefined;
    if (federated) validateFederated(app.federated, `${at}.federated`, fail);
    const method = (app.authMethod ??
      (app.jwks || federated ? "private_key_jwt" : "client_secret_basic")) as string;
    if (!METHODS.includes(method)) fail(`${at}.authMethod`, `must be one of ${METHODS.join(", ")}`);
    if (federated && method !== "private_key_jwt") {
      fail(
        `${at}.authMethod`,
        "an app with federated credentials authenticates with client assertions (private_key_jwt); keep secrets in another app",
      );
    }
    if (method === "private_key_jwt") {
      if (app.jwks !== undefined ? !isObject(app.jwks) || !Array.isArray(app.jwks.keys) : !federated)
        fail(`${at}.jwks`, "private_key_jwt needs { keys: [public JWK] }");
    } else if (
      typeof app.clientSecret !== "string" ||
      app.clientSecret.length < (method === "client_secret_jwt" ? 32 : 1)
    ) {
      fail(
        `${at}.clientSecret`,
        method === "client_secret_jwt" ? "needs at least 32 characters" : "must be a non-empty string",
      );
    }
    if (app.enabled !== undefined && typeof app.enabled !== "boolean")
      fail(`${at}.enabled`, "must be true or false");
    if (app.dpop !== undefined && typeof app.dpop !== "boolean") fail(`${at}.dpop`, "must be true or false");
    if (app.grantTypes !== undefined) {
      const types = app.grantTypes;
      if (!Array.isArray(types) || types.length === 0)
        fail(`${at}.grantTypes`, `must be a non-empty array of ${GRANT_TYPES.join(", ")}`);
      (types as unknown[]).forEach((type, j) => {
        if (!GRANT_TYPES.includes(type as DevGrantType))
          fail(`${at}.grantTypes[${j}]`, `must be one of ${GRANT_TYPES.join(", ")}`);
        if ((types as unknown[]).indexOf(type) !== j) fail(`${at}.grantTypes[${j}]`, `duplicate "${type}"`);
      });
      if ((types as unknown[]).includes("jwt-bearer") && !federated) {
        fail(
          `${at}.grantTypes`,
          "jwt-bearer needs federated credentials: the issuers whose assertions the app may present",
        );
      }
    }
    if (!isObject(app.grants))
      throw new DevConfigError(file, `${at}.grants`, "must be an object: API identifier → scopes");
    for (const [identifier, scopes] of Object.entries(app.grants)) {
      const path = `${at}.grants[${JSON.stringify(identifier)}]`;
      const defined = apis.get(identifier);
      if (!defined) fail(path, `unknown API "${identifier}" (not in apis)`);
      if (!Array.isArray(scopes)) fail(path, "must be an array of scopes");
      (scopes as unknown[]).forEach((scope, j) => {
        if (typeof scope !== "string" || !defined?.has(scope)) {
          fail(`${path}[${j}]`, `scope "${String(scope)}" is not defined on API "${identifier}"`);
        }
      });
    }
  });
  return config as unknown as DevConfig;
}

/** Checks an app's `federated` list; `at` is its JSON path. */
function validateFederated(value: unknown, at: string, fail: (path: string, problem: string) => never): void {
  if (!Array.isArray(value) || value.length === 0)
    fail(at, "must be a non-empty array of { issuer, subject, audience?, jwksUri? }");
  const seen = new Set<string>();
  (value as unknown[]).forEach((entry, i) => {
    const path = `${at}[${i}]`;
    if (!isObject(entry)) fail(path, "must be an object: { issuer, subject, audience?, jwksUri? }");
    const credential = entry as Record<string, unknown>;
    for (const key of Object.keys(credential)) {
      if (isKnownName(key, [DEV_FEDERATED_FIELDS, COMMENT])) continue;
      const meant = closestName(key, Object.keys(DEV_FEDERATED_FIELDS));
      fail(
        `${path}.${key}`,
        `unknown field (${meant === undefined ? `expected ${Object.keys(DEV_FEDERATED_FIELDS).join(", ")}` : `did you mean ${meant}?`})`,
      );
    }
    const { issuer, subject, audience, jwksUri } = credential;
    if (typeof issuer !== "string" || !URL.canParse(issuer))
      fail(`${path}.issuer`, "must be the issuer's URL (or a SPIFFE trust domain, spiffe://example.org)");
    const spiffe = (issuer as string).startsWith("spiffe://");
    if (spiffe && !/^spiffe:\/\/[a-z0-9._-]+$/.test(issuer as string))
      fail(`${path}.issuer`, "a SPIFFE trust domain is spiffe://<trust domain>, without a path");
    if (typeof subject !== "string" || subject === "") fail(`${path}.subject`, "must be a non-empty string");
    if (spiffe && !(subject as string).startsWith(`${issuer}/`))
      fail(`${path}.subject`, `must be a SPIFFE ID of the trust domain (${issuer}/…)`);
    if (audience !== undefined && (typeof audience !== "string" || audience === ""))
      fail(`${path}.audience`, "must be a non-empty string");
    if (jwksUri !== undefined && (typeof jwksUri !== "string" || !/^https?:\/\/[^/]/.test(jwksUri)))
      fail(`${path}.jwksUri`, "must be an http(s) URL");
    if (spiffe && jwksUri === undefined)
      fail(`${path}.jwksUri`, "is required for a SPIFFE trust domain: its bundle endpoint (a JWK Set URL)");
    if (credential.name !== undefined && typeof credential.name !== "string")
      fail(`${path}.name`, "must be a string");
    const key = `${issuer} ${subject}`;
    if (seen.has(key)) fail(path, `duplicate credential for issuer "${issuer}" and subject "${subject}"`);
    seen.add(key);
  });
}

/** Parses and validates a configuration file's text. */
export function parseDevConfig(text: string, file: string): DevConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DevConfigError(file, "", `not valid JSON (${(error as Error).message})`);
  }
  return validateDevConfig(value, file);
}
