import { checkUrl, withoutCredentials as refuseCredentials } from "../lib/http.js";
import { checkOptionNames, isFreeFormMap, knownOptions } from "../lib/option-names.js";
import { DEFAULT_RETRY, RETRY_OPTION_NAMES, type RetryPolicy } from "../lib/retry.js";
import { transportInfo } from "../lib/transport.js";
import {
  type AssertionAudience,
  AUTH_METHODS,
  type AuthMethod,
  checkPrivateKey,
} from "../oauth/client-auth.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { type AudienceParam, PROVIDER_NAMES, type ProviderName, tenantIssuers } from "../providers.js";
import { type ResolvedSource, resolveAssertionInput } from "../workload/source.js";
import { checkDpopOption } from "./dpop.js";
import { checkGrantOption, type NormalizedGrant } from "./grants/option.js";
import { checkMutualTlsTransport } from "./mtls.js";
import { CLIENT_OPTION_NAMES, type ClientCredentialsClientOptions } from "./options.js";

const WHERE = "new ClientCredentialsClient()";

export interface NormalizedOptions {
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  clientId: string;
  provider: ProviderName | undefined;
  authMethod: AuthMethod | undefined;
  /** `undefined`: the preset's rule, else the issuer (see `assertionStyle`). */
  assertionAudience: AssertionAudience | undefined;
  assertionTyp: boolean | undefined;
  clientAssertion: ResolvedSource | undefined;
  grant: NormalizedGrant | undefined;
  audienceParam: AudienceParam | undefined;
  defaultAudience: string | undefined;
  defaultScope: string[];
  extraParams: Record<string, string>;
  timeoutMs: number;
  retry: RetryPolicy | false;
  refreshWindowSeconds: number | undefined;
  defaultTokenLifetimeSeconds: number;
  allowInsecureHttp: boolean;
  retryOnUnauthorized: boolean | "idempotent";
  cacheMaxEntries: number;
}

const RESERVED_PARAMS = new Set([
  "grant_type",
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
  "scope",
  "assertion",
  "subject_token",
  "subject_token_type",
  "actor_token",
  "actor_token_type",
  "requested_token_type",
  "audience",
  "resource",
]);

/**
 * Why an `extraParams` name is refused. The target (`audience`, `resource`, `scope`) is the call's:
 * set for every call, it would get a token for another API labelled, cached and sent as the one asked for.
 */
function reservedParamMessage(name: string): string {
  return name === "audience" || name === "resource" || name === "scope"
    ? `extraParams.${name} names the target of each token request, which is the call's: pass it as getToken({ audience, scope }) or defaultAudience / defaultScope (audienceParam says how the audience is sent)`
    : `extraParams.${name} is set by the client and cannot be overridden`;
}

function positive(value: unknown, option: string, { allowZero = false } = {}): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${option} must be a ${allowZero ? "non-negative" : "positive"} finite number`);
  }
  return value;
}

function nonEmptyString(value: unknown, option: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${option} must be a non-empty string`);
  return value;
}

/**
 * Refuses a URL with a user name or password: they would be sent to the server and shown wherever
 * the URL is (messages, events, `toString`). The message names the option, never the URL.
 */
export function withoutCredentials(url: URL, option: string): URL {
  return refuseCredentials(url, option, "use clientId and clientSecret");
}

/** Splits and validates a scope option: a space-delimited string or a list of scope tokens. */
export function normalizeScope(value: unknown, option: string): string[] {
  if (value === undefined) return [];
  const list = typeof value === "string" ? value.split(" ") : value;
  if (!Array.isArray(list)) throw new TypeError(`${option} must be a string or an array of strings`);
  const scopes: string[] = [];
  for (const scope of list) {
    if (typeof scope !== "string") throw new TypeError(`${option} must be a string or an array of strings`);
    if (scope === "") continue;
    checkScopeTokens([scope], option);
    scopes.push(scope);
  }
  return [...new Set(scopes)].sort();
}

/** Validates the constructor options; every problem is a `TypeError` naming the option. */
export function normalizeOptions(options: ClientCredentialsClientOptions): NormalizedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("ClientCredentialsClient options must be an object");
  }
  checkOptionNames(options, [CLIENT_OPTION_NAMES], WHERE);
  options = knownOptions(options, [CLIENT_OPTION_NAMES]);
  if (options.allowInsecureHttp !== undefined && typeof options.allowInsecureHttp !== "boolean") {
    throw new TypeError("allowInsecureHttp must be a boolean");
  }
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const clientId = nonEmptyString(options.clientId, "clientId");
  if (options.tenant !== undefined) {
    nonEmptyString(options.tenant, "tenant");
    if (options.provider === undefined) throw new TypeError("tenant needs provider");
    if (options.issuer !== undefined) throw new TypeError("set either tenant or issuer, not both");
    if (!PROVIDER_NAMES.includes(options.provider))
      throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
    options = { ...options, issuer: tenantIssuers(options.provider, options.tenant)[0] };
  }
  if (options.issuer === undefined && options.tokenEndpoint === undefined) {
    throw new TypeError("issuer or tokenEndpoint is required");
  }
  const issuer =
    options.issuer === undefined
      ? undefined
      : withoutCredentials(checkUrl(options.issuer, "issuer", allowInsecureHttp), "issuer") && options.issuer;
  const tokenEndpoint =
    options.tokenEndpoint === undefined
      ? undefined
      : withoutCredentials(
          checkUrl(options.tokenEndpoint, "tokenEndpoint", allowInsecureHttp),
          "tokenEndpoint",
        ).href;

  if (options.provider !== undefined && !PROVIDER_NAMES.includes(options.provider)) {
    throw new TypeError(`provider must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  if (options.authMethod !== undefined && !AUTH_METHODS.includes(options.authMethod)) {
    throw new TypeError(`authMethod must be one of ${AUTH_METHODS.join(", ")}`);
  }
  if (
    options.audienceParam !== undefined &&
    !["audience", "resource", "none"].includes(options.audienceParam)
  ) {
    throw new TypeError('audienceParam must be "audience", "resource" or "none"');
  }

  if (options.clientSecret !== undefined) nonEmptyString(options.clientSecret, "clientSecret");
  if (options.privateKey !== undefined) checkPrivateKey(options.privateKey);
  if (options.privateKeyAlg !== undefined) nonEmptyString(options.privateKeyAlg, "privateKeyAlg");
  if (options.keyId !== undefined) nonEmptyString(options.keyId, "keyId");
  const clientAssertion =
    options.clientAssertion === undefined
      ? undefined
      : resolveAssertionInput(options.clientAssertion, "clientAssertion");
  const credentialCount = [options.clientSecret, options.privateKey, clientAssertion].filter(
    (credential) => credential !== undefined,
  ).length;
  if (credentialCount > 1) {
    throw new TypeError("set one credential: clientSecret, privateKey or clientAssertion");
  }
  const grant = checkGrantOption(options.grant, WHERE);
  const noCredentials = credentialCount === 0;
  // A transport that presents a client certificate and no other credential: RFC 8705 §2.
  const method =
    options.authMethod ??
    (noCredentials && transportInfo(options.fetch)?.presentsClientCertificate
      ? "tls_client_auth"
      : noCredentials && grant
        ? "none"
        : undefined);
  if (method === undefined && noCredentials) {
    throw new TypeError(
      "clientSecret, privateKey or clientAssertion is required (or authMethod tls_client_auth with a fetch that presents a client certificate)",
    );
  }
  checkMutualTlsTransport(method, options.fetch);
  if (method?.startsWith("client_secret_") && options.clientSecret === undefined) {
    throw new TypeError(`clientSecret is required for authMethod ${method}`);
  }
  if (method === "private_key_jwt" && options.privateKey === undefined && clientAssertion === undefined) {
    throw new TypeError("privateKey or clientAssertion is required for authMethod private_key_jwt");
  }
  if (clientAssertion !== undefined && method !== undefined && method !== "private_key_jwt") {
    throw new TypeError(`clientAssertion is sent with authMethod private_key_jwt, not ${method}`);
  }
  if (method === "none" && (!grant || !noCredentials)) {
    throw new TypeError(
      "authMethod none (client_id only) is for a grant whose assertion is the credential: it needs the grant option and no clientSecret, privateKey or clientAssertion",
    );
  }

  const assertionAudience = options.assertionAudience;
  if (assertionAudience !== undefined) {
    if (assertionAudience !== "tokenEndpoint" && assertionAudience !== "issuer") {
      withoutCredentials(checkUrl(assertionAudience, "assertionAudience", true), "assertionAudience");
    }
    if (assertionAudience === "issuer" && issuer === undefined) {
      throw new TypeError('assertionAudience "issuer" needs the issuer option');
    }
  }
  if (options.assertionTyp !== undefined && typeof options.assertionTyp !== "boolean") {
    throw new TypeError("assertionTyp must be a boolean");
  }
  if (
    clientAssertion !== undefined &&
    (assertionAudience !== undefined || options.assertionTyp !== undefined)
  ) {
    throw new TypeError(
      `${assertionAudience !== undefined ? "assertionAudience" : "assertionTyp"} applies to assertions the client signs; a clientAssertion's aud and typ are set by its issuer`,
    );
  }
  // What shapes the client's own assertion, given where it signs none, would be silently ignored.
  for (const name of ["privateKeyAlg", "keyId"] as const) {
    if (options[name] === undefined || options.privateKey !== undefined) continue;
    throw new TypeError(
      clientAssertion !== undefined
        ? `${name} describes the key the client signs with (privateKey); a clientAssertion is signed by its issuer`
        : `${name} describes the key the client signs with: it needs privateKey`,
    );
  }
  const signs =
    method === "client_secret_jwt" ||
    (options.privateKey !== undefined && (method === undefined || method === "private_key_jwt"));
  if (!signs && (assertionAudience !== undefined || options.assertionTyp !== undefined)) {
    throw new TypeError(
      `${assertionAudience !== undefined ? "assertionAudience" : "assertionTyp"} applies to assertions the client signs (private_key_jwt with privateKey, client_secret_jwt), and ${
        method === undefined
          ? "with clientSecret the client signs one only with authMethod client_secret_jwt"
          : `authMethod ${method} signs none`
      }`,
    );
  }

  if (options.defaultAudience !== undefined) nonEmptyString(options.defaultAudience, "defaultAudience");
  const defaultScope = normalizeScope(options.defaultScope, "defaultScope");

  const extraParams: Record<string, string> = {};
  if (options.extraParams !== undefined) {
    if (!isFreeFormMap(options.extraParams)) {
      throw new TypeError("extraParams must be a plain object of strings");
    }
    for (const [name, value] of Object.entries(options.extraParams)) {
      if (typeof value !== "string") throw new TypeError(`extraParams.${name} must be a string`);
      if (RESERVED_PARAMS.has(name)) throw new TypeError(reservedParamMessage(name));
      extraParams[name] = value;
    }
  }

  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError("fetch must be a function");
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== "function") {
    throw new TypeError("onEvent must be a function");
  }
  if (
    options.store !== undefined &&
    (typeof options.store !== "object" ||
      options.store === null ||
      typeof options.store.get !== "function" ||
      typeof options.store.set !== "function" ||
      typeof options.store.delete !== "function")
  ) {
    throw new TypeError("store must implement get, set and delete");
  }
  if (options.cacheMaxEntries !== undefined) {
    positive(options.cacheMaxEntries, "cacheMaxEntries");
    if (!Number.isInteger(options.cacheMaxEntries)) throw new TypeError("cacheMaxEntries must be an integer");
  }
  const retryOnUnauthorized = options.retryOnUnauthorized ?? true;
  if (typeof retryOnUnauthorized !== "boolean" && retryOnUnauthorized !== "idempotent") {
    throw new TypeError('retryOnUnauthorized must be true, false or "idempotent"');
  }
  checkDpopOption(options.dpop, WHERE);
  if (
    options.clock !== undefined &&
    (typeof options.clock !== "object" ||
      options.clock === null ||
      typeof options.clock.now !== "function" ||
      typeof options.clock.sleep !== "function")
  ) {
    throw new TypeError("clock must be an object with now() and sleep(ms, signal)");
  }

  let retry: RetryPolicy | false;
  if (options.retry === false) {
    retry = false;
  } else if (options.retry === undefined) {
    retry = DEFAULT_RETRY;
  } else if (typeof options.retry !== "object" || options.retry === null || Array.isArray(options.retry)) {
    throw new TypeError("retry must be an object or false");
  } else {
    checkOptionNames(options.retry, [RETRY_OPTION_NAMES], WHERE, "retry.");
    retry = { ...DEFAULT_RETRY };
    for (const field of ["retries", "minDelayMs", "maxDelayMs", "maxElapsedMs"] as const) {
      const value = options.retry[field];
      if (value !== undefined) retry[field] = positive(value, `retry.${field}`, { allowZero: true });
    }
    if (!Number.isInteger(retry.retries)) throw new TypeError("retry.retries must be an integer");
    if (retry.minDelayMs > retry.maxDelayMs) {
      throw new TypeError("retry.minDelayMs must not be larger than retry.maxDelayMs");
    }
  }

  return {
    issuer,
    tokenEndpoint,
    clientId,
    provider: options.provider,
    authMethod: method,
    assertionAudience,
    assertionTyp: options.assertionTyp,
    clientAssertion,
    grant,
    audienceParam: options.audienceParam,
    defaultAudience: options.defaultAudience,
    defaultScope,
    extraParams,
    timeoutMs: options.timeoutMs === undefined ? 10_000 : positive(options.timeoutMs, "timeoutMs"),
    retry,
    refreshWindowSeconds:
      options.refreshWindowSeconds === undefined
        ? undefined
        : positive(options.refreshWindowSeconds, "refreshWindowSeconds", { allowZero: true }),
    defaultTokenLifetimeSeconds:
      options.defaultTokenLifetimeSeconds === undefined
        ? 300
        : positive(options.defaultTokenLifetimeSeconds, "defaultTokenLifetimeSeconds"),
    allowInsecureHttp,
    retryOnUnauthorized,
    cacheMaxEntries: options.cacheMaxEntries ?? 1000,
  };
}
