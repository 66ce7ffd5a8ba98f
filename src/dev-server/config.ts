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
   * How the app authenticates at the token endpoint. Default: `private_key_jwt` with `jwks`, else
   * `client_secret_basic`.
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

const ALGS = ["RS256", "PS256", "ES256", "EdDSA"];
const METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"];

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
    const method = (app.authMethod ?? (app.jwks ? "private_key_jwt" : "client_secret_basic")) as string;
    if (!METHODS.includes(method)) fail(`${at}.authMethod`, `must be one of ${METHODS.join(", ")}`);
    if (method === "private_key_jwt") {
      if (!isObject(app.jwks) || !Array.isArray(app.jwks.keys))
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
