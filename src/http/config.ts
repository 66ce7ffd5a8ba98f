import { LRUCache } from "lru-cache";
import {
  checkOptionNames,
  isKnownName,
  knownOptions,
  type NameList,
  type OptionNames,
  optionNamesOf,
  unknownOption,
} from "../lib/option-names.js";
import type { VerifierEventListener } from "../verify/events.js";
import { ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES } from "../verify/options.js";
import { normalizeRequirement } from "../verify/scopes.js";
import {
  createVerifierFor,
  type ScopeRequirement,
  type Verifier,
  type VerifierOptions,
} from "../verify/verifier.js";
import type { HttpAuthError } from "./auth-error.js";
import {
  CERTIFICATE_BINDING_OPTION_NAMES,
  type CertificateBindingOptions,
  checkCertificateBindingOptions,
} from "./certificate-binding.js";
import { checkPublicUrl, checkPublicUrlFor, type PublicUrlOptions } from "./public-url.js";
import {
  checkResourceMetadataOptions,
  type ResourceMetadataOptions,
  withResourceMetadata,
} from "./resource-metadata.js";

/**
 * What an adapter is configured with: the options every adapter shares, how they are checked at
 * creation, and the verifier an adapter's configuration resolves to (one per options object).
 */
/** Options every adapter shares. */
export interface HttpAuthOptions extends CertificateBindingOptions, PublicUrlOptions {
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string;
  /** Let requests without credentials through, with no `auth`. A bad token is still refused. */
  optional?: boolean;
  /** Scopes every request must have. */
  requiredScopes?: ScopeRequirement;
  /** Accept `?access_token=` (RFC 6750 §2.3). Off by default: URLs end up in logs. */
  allowQueryToken?: boolean;
  /** Accept `access_token` in a form-encoded body (RFC 6750 §2.2). Off by default. */
  allowBodyToken?: boolean;
  /**
   * Shapes the error response body (e.g. `application/problem+json`); status and headers stay. If it
   * throws, the error goes to the framework's error handling (never an unanswered crash).
   */
  errorBody?: (error: HttpAuthError) => {
    /** The response's `Content-Type`, e.g. `application/problem+json`. */
    contentType: string;
    /** The response body, sent as it is. */
    body: string;
  };
  /**
   * Told of every refused request (`request_refused`, with the cause's `code`; a 503 carries the
   * `VerifierUnavailableError` as `cause`) and of an answer that could not be sent
   * (`response_failed`). With verifier options, the verifier's own events come here too.
   */
  onEvent?: VerifierEventListener;
  /**
   * Describe this API to agents (RFC 9728 OAuth 2.0 Protected Resource Metadata): every challenge
   * (401, 403, and 400) carries `resource_metadata="<metadata URL>"` (§5.1), and the adapter answers
   * `GET /.well-known/oauth-protected-resource` (and the path-inserted form, §3.1) without a token
   * when it sees that request (Express `app.use`, Fastify's plugin at the root, Hono `app.use`,
   * `withAuth` around the whole app). An adapter mounted on one route does not see it: serve the
   * document with `protectedResourceMetadata()` at the application. The document's members come
   * from this configuration (issuers, scopes, DPoP, certificate binding); see
   * {@link ResourceMetadataOptions} for what it adds. `{}` takes every default.
   *
   * @throws TypeError at creation for a bad member, or when `resource` cannot be derived.
   */
  resourceMetadata?: ResourceMetadataOptions;
}

/** The names of {@link HttpAuthOptions} besides the certificate-binding ones. */
export const HTTP_AUTH_OPTION_NAMES: OptionNames<HttpAuthOptions, CertificateBindingOptions> = {
  publicUrl: true,
  realm: true,
  optional: true,
  requiredScopes: true,
  allowQueryToken: true,
  allowBodyToken: true,
  errorBody: true,
  onEvent: true,
  resourceMetadata: true,
};

/** An adapter takes a verifier, or verifier options plus adapter options. */
export type AuthConfig =
  | (VerifierOptions & HttpAuthOptions)
  | ({
      /** A verifier made with `createVerifier` (and perhaps instrumented), shared with other routes. */
      verifier: Verifier;
    } & HttpAuthOptions);

/** The names of the `{ verifier }` form of {@link AuthConfig} besides {@link HttpAuthOptions}'. */
const VERIFIER_CONFIG_NAMES: OptionNames<Extract<AuthConfig, { verifier: Verifier }>, HttpAuthOptions> = {
  verifier: true,
};

/**
 * How an adapter names itself in its errors, and the option names it adds to
 * {@link HttpAuthOptions} (`passErrors`, `global`, Fastify's registration keys, …).
 */
export interface AdapterNames {
  /** The call that takes the configuration, e.g. `requireAuth()`. */
  readonly call: string;
  /** Where the adapter options go, e.g. `requireAuth() (second argument)`. */
  readonly options: string;
  /** The adapter's own option names. */
  readonly names: readonly NameList[];
}

/** Adapter options that must be a boolean when given (each adapter has some of them). */
const BOOLEAN_OPTIONS = [
  "optional",
  "allowQueryToken",
  "allowBodyToken",
  "passErrors",
  "global",
  "httpException",
  "requireCertificateBoundTokens",
] as const;

/** RFC 9110 §5.6.4 quoted-string content: visible ASCII and spaces (`"` and `\` are escaped). */
const REALM = /^[\x20-\x7E]*$/;

/** The option names an adapter reads itself. */
function adapterLists(adapter: AdapterNames): readonly NameList[] {
  return [HTTP_AUTH_OPTION_NAMES, CERTIFICATE_BINDING_OPTION_NAMES, ...adapter.names];
}

function isVerifierOption(name: string): boolean {
  return isKnownName(name, [ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES]);
}

/**
 * Checks adapter options by type, when the adapter is created: a bad option is a `TypeError`
 * naming it, never a silent accept or an error at request time.
 */
export function checkHttpAuthOptions(options: HttpAuthOptions, where: string): void {
  if (typeof options !== "object" || options === null) throw new TypeError("auth options must be an object");
  const values = options as Record<string, unknown>;
  for (const name of BOOLEAN_OPTIONS) {
    if (values[name] !== undefined && typeof values[name] !== "boolean") {
      throw new TypeError(`${name} must be a boolean`);
    }
  }
  if (options.realm !== undefined && (typeof options.realm !== "string" || !REALM.test(options.realm))) {
    throw new TypeError("realm must be a string of visible ASCII characters and spaces");
  }
  for (const name of ["errorBody", "onEvent"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new TypeError(`${name} must be a function`);
    }
  }
  normalizeRequirement(options.requiredScopes, "requiredScopes");
  checkCertificateBindingOptions(options);
  checkPublicUrl(options.publicUrl);
  if (options.resourceMetadata !== undefined) checkResourceMetadataOptions(options.resourceMetadata, where);
}

const HTTP_AUTH_LISTS: readonly NameList[] = [HTTP_AUTH_OPTION_NAMES, CERTIFICATE_BINDING_OPTION_NAMES];

const checkedSettings = new WeakMap<object, HttpAuthOptions>();

/**
 * The options of a framework-free call (`authenticateRequest`, `extractBearerToken`, web
 * `errorResponse`) checked as an adapter checks its own: names (own and inherited) and types, once
 * per options object; returned as a plain object of the known names.
 */
export function httpAuthSettings(options: HttpAuthOptions, where: string): HttpAuthOptions {
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${where} options must be an object`);
  let settings = checkedSettings.get(options);
  if (settings === undefined) {
    checkOptionNames(options, HTTP_AUTH_LISTS, where, "");
    settings = knownOptions(options, HTTP_AUTH_LISTS);
    checkHttpAuthOptions(settings, where);
    checkedSettings.set(options, settings);
  }
  return settings;
}

/**
 * Checks an adapter's options argument (adapter options only: verifier options there would be
 * ignored), names first (own and inherited, see `optionNamesOf`), then types. Returns them as a plain
 * object (`knownOptions`), so that an option inherited from a prototype is read as an own one is.
 */
export function checkAdapterOptions<T extends HttpAuthOptions>(options: T, adapter: AdapterNames): T {
  if (typeof options !== "object" || options === null) throw new TypeError("auth options must be an object");
  const lists = adapterLists(adapter);
  for (const name of optionNamesOf(options)) {
    if (isKnownName(name, lists)) continue;
    if (isVerifierOption(name)) {
      throw new TypeError(
        `${name} is not an option of ${adapter.options}: verifier options go in the first argument`,
      );
    }
    throw unknownOption(name, lists, adapter.options);
  }
  const known = knownOptions(options, lists);
  checkHttpAuthOptions(known, adapter.call);
  return known;
}

/** Checks the names of an adapter's configuration (its first argument), own and inherited. */
function checkConfigNames(config: object, adapter: AdapterNames, withVerifier: boolean): void {
  const lists = adapterLists(adapter);
  for (const name of optionNamesOf(config)) {
    if (isKnownName(name, lists) || name === "verifier") continue;
    if (withVerifier && isVerifierOption(name)) {
      if ((config as Record<string, unknown>)[name] === undefined) continue;
      throw new TypeError(
        `${name} is a verifier option: give verifier options or a verifier, not both (set it in createVerifier())`,
      );
    }
    if (!withVerifier && isVerifierOption(name)) continue;
    throw unknownOption(
      name,
      withVerifier
        ? [VERIFIER_CONFIG_NAMES, ...lists]
        : [ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES, VERIFIER_CONFIG_NAMES, ...lists],
      adapter.call,
    );
  }
}

function withVerifierOf(config: object): boolean {
  return "verifier" in config && (config as { verifier?: unknown }).verifier !== undefined;
}

/**
 * An adapter's configuration (its first argument) checked by name and read into a plain object of
 * the names it knows: verifier options or `{ verifier }`, and adapter options. Options inherited from
 * a prototype (`Object.create(defaults)`, a class with getters) count as own ones do.
 */
export function adapterConfig<T extends AuthConfig>(config: T, adapter: AdapterNames): T {
  if (typeof config !== "object" || config === null) throw new TypeError("auth options must be an object");
  checkConfigNames(config, adapter, withVerifierOf(config));
  return knownOptions(config, [
    ISSUER_OPTION_NAMES,
    VERIFIER_OPTION_NAMES,
    VERIFIER_CONFIG_NAMES,
    ...adapterLists(adapter),
  ]);
}

/** A verifier from an adapter's config, created once per middleware. */
export function verifierFrom(config: AuthConfig, adapter: AdapterNames): Verifier {
  const known = adapterConfig(config, adapter);
  checkHttpAuthOptions(known, adapter.call);
  if (withVerifierOf(known)) {
    const verifier = (known as { verifier?: Verifier }).verifier;
    if (typeof verifier?.verify !== "function")
      throw new TypeError("verifier must come from createVerifier()");
    return verifier;
  }
  // The adapter applies requiredScopes per call; onEvent is the verifier's too (its events come there).
  const verifierOptions: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(known)) {
    if (name !== "requiredScopes" && isVerifierOption(name)) verifierOptions[name] = value;
  }
  return createVerifierFor(verifierOptions as unknown as VerifierOptions, adapter.call);
}

const shared = new WeakMap<object, Verifier>();

/**
 * The verifier and settings for an adapter: a verifier as it is, or one verifier per options object
 * (so that one JWKS cache serves every request). Checks what needs both (`publicUrl` with DPoP).
 */
export function resolveAuth(
  config: AuthConfig | Verifier,
  options: HttpAuthOptions,
  adapter: AdapterNames,
): { verifier: Verifier; settings: HttpAuthOptions } {
  return checked(resolveConfig(config, options, adapter), adapter);
}

/**
 * {@link resolveAuth} without the checks of what only authentication needs (`publicUrl` with DPoP),
 * for a handler that serves what the configuration says (`protectedResourceMetadata()`).
 */
export function resolveConfig(
  config: AuthConfig | Verifier,
  options: HttpAuthOptions,
  adapter: AdapterNames,
): { verifier: Verifier; settings: HttpAuthOptions } {
  const adapterOptions = checkAdapterOptions(options, adapter);
  if (isVerifier(config)) return { verifier: config, settings: adapterOptions };
  let verifier = shared.get(config);
  // One verifier per options object, but each adapter it is given to checks the names it reads.
  const known = adapterConfig(config, adapter);
  if (!verifier) {
    verifier = verifierFrom(known, adapter);
    shared.set(config, verifier);
  }
  return { verifier, settings: { ...(known as HttpAuthOptions), ...adapterOptions } };
}

/**
 * A resolved adapter configuration, after the checks that need the verifier and the settings; the
 * settings carry the resolved `resourceMetadata`.
 */
function checked(
  resolved: { verifier: Verifier; settings: HttpAuthOptions },
  adapter: AdapterNames,
): { verifier: Verifier; settings: HttpAuthOptions } {
  checkPublicUrlFor(resolved.verifier, resolved.settings);
  return {
    verifier: resolved.verifier,
    settings: withResourceMetadata(resolved.verifier, resolved.settings, adapter.call),
  };
}

const functionIds = new WeakMap<object, number>();
let lastFunctionId = 0;

/** A key equal for equal configurations; a function counts by identity. */
function configurationKey(config: object): string {
  return JSON.stringify(config, (_name, value) => {
    if (typeof value !== "function") return value;
    let id = functionIds.get(value);
    if (id === undefined) {
      id = ++lastFunctionId;
      functionIds.set(value, id);
    }
    return `\u0000function ${id}`;
  });
}

/**
 * For adapters whose options are a function of the request (`honoAuth((c) => options)`): resolves
 * what the function returned, keeping one verifier (and so one key cache) per distinct
 * configuration, not one per request. Functions inside the options (`fetch`, `clock`, claim rules)
 * count by identity, so define them once, outside the options function.
 */
export function resolvePerConfiguration(
  adapter: AdapterNames,
  maxConfigurations = 32,
): (
  config: AuthConfig | Verifier,
  options: HttpAuthOptions,
) => { verifier: Verifier; settings: HttpAuthOptions } {
  const verifiers = new LRUCache<string, Verifier>({ max: maxConfigurations });
  return (config, options) => {
    const adapterOptions = checkAdapterOptions(options, adapter);
    if (isVerifier(config)) return checked({ verifier: config, settings: adapterOptions }, adapter);
    const known = adapterConfig(config, adapter);
    if (withVerifierOf(known)) {
      return checked(
        {
          verifier: verifierFrom(known, adapter),
          settings: { ...(known as HttpAuthOptions), ...adapterOptions },
        },
        adapter,
      );
    }
    const key = configurationKey(known);
    let verifier = verifiers.get(key);
    if (!verifier) {
      verifier = verifierFrom(known, adapter);
      verifiers.set(key, verifier);
    }
    return checked({ verifier, settings: { ...(known as HttpAuthOptions), ...adapterOptions } }, adapter);
  };
}

/** Whether a value is a verifier rather than options. */
export function isVerifier(value: unknown): value is Verifier {
  return typeof value === "object" && value !== null && typeof (value as Verifier).verify === "function";
}
