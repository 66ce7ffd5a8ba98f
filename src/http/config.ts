import { LRUCache } from "lru-cache";
import type { VerifierEventListener } from "../verify/events.js";
import { normalizeRequirement } from "../verify/scopes.js";
import {
  createVerifier,
  type ScopeRequirement,
  type Verifier,
  type VerifierOptions,
} from "../verify/verifier.js";
import type { HttpAuthError } from "./bearer.js";
import { type CertificateBindingOptions, checkCertificateBindingOptions } from "./certificate-binding.js";
import { checkPublicUrl, checkPublicUrlFor, type PublicUrlOptions } from "./public-url.js";

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
}

/** An adapter takes a verifier, or verifier options plus adapter options. */
export type AuthConfig =
  | (VerifierOptions & HttpAuthOptions)
  | ({
      /** A verifier made with `createVerifier` (and perhaps instrumented), shared with other routes. */
      verifier: Verifier;
    } & HttpAuthOptions);

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

/**
 * Options an adapter reads itself; everything else in a config is a verifier option. Fastify adds
 * its own registration options (`prefix`, `logLevel`, …) to a plugin's options.
 */
const ADAPTER_OPTIONS = new Set<string>([
  ...BOOLEAN_OPTIONS,
  "verifier",
  "realm",
  "requiredScopes",
  "errorBody",
  "onEvent",
  "clientCertificateHeader",
  "publicUrl",
  "prefix",
  "logLevel",
  "logSerializers",
]);

/** RFC 9110 §5.6.4 quoted-string content: visible ASCII and spaces (`"` and `\` are escaped). */
const REALM = /^[\x20-\x7E]*$/;

/**
 * Checks adapter options by type, when the adapter is created: a bad option is a `TypeError`
 * naming it, never a silent accept or an error at request time.
 */
export function checkHttpAuthOptions(options: HttpAuthOptions): void {
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
}

/** The adapter options of `options` (the second argument): verifier options there would be ignored. */
function checkAdapterOnly(options: object, where: string): void {
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !ADAPTER_OPTIONS.has(name)) {
      throw new TypeError(`${name} is not an option ${where}`);
    }
  }
}

/** Checks the adapter options of an adapter's second argument (adapter options only). */
export function checkAdapterOptions(options: HttpAuthOptions): void {
  checkHttpAuthOptions(options);
  checkAdapterOnly(options, "of the adapter (the second argument); verifier options go in the first");
}

/** A verifier from an adapter's config, created once per middleware. */
export function verifierFrom(config: AuthConfig): Verifier {
  if (typeof config !== "object" || config === null) throw new TypeError("auth options must be an object");
  checkHttpAuthOptions(config);
  if ("verifier" in config && config.verifier !== undefined) {
    if (typeof config.verifier?.verify !== "function")
      throw new TypeError("verifier must come from createVerifier()");
    for (const [name, value] of Object.entries(config)) {
      if (value !== undefined && !ADAPTER_OPTIONS.has(name)) {
        throw new TypeError(
          `${name} is a verifier option: give verifier options or a verifier, not both (set it in createVerifier())`,
        );
      }
    }
    return config.verifier;
  }
  const {
    realm: _r,
    optional: _o,
    requiredScopes: _s,
    allowQueryToken: _q,
    allowBodyToken: _b,
    errorBody: _e,
    passErrors: _p,
    global: _g,
    httpException: _h,
    clientCertificateHeader: _c,
    requireCertificateBoundTokens: _t,
    publicUrl: _u,
    prefix: _x,
    logLevel: _l,
    logSerializers: _z,
    ...verifierOptions
  } = config as VerifierOptions & HttpAuthOptions & Record<string, unknown>;
  return createVerifier(verifierOptions as VerifierOptions);
}

const shared = new WeakMap<object, Verifier>();

/**
 * The verifier and settings for an adapter: a verifier as it is, or one verifier per options object
 * (so that one JWKS cache serves every request). Checks what needs both (`publicUrl` with DPoP).
 */
export function resolveAuth(
  config: AuthConfig | Verifier,
  options: HttpAuthOptions = {},
): { verifier: Verifier; settings: HttpAuthOptions } {
  checkAdapterOptions(options);
  if (isVerifier(config)) return checked({ verifier: config, settings: options });
  let verifier = shared.get(config);
  if (!verifier) {
    verifier = verifierFrom(config);
    shared.set(config, verifier);
  }
  return checked({ verifier, settings: { ...(config as HttpAuthOptions), ...options } });
}

/** A resolved adapter configuration, after the checks that need the verifier and the settings. */
function checked<T extends { verifier: Verifier; settings: HttpAuthOptions }>(resolved: T): T {
  checkPublicUrlFor(resolved.verifier, resolved.settings);
  return resolved;
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
  maxConfigurations = 32,
): (
  config: AuthConfig | Verifier,
  options: HttpAuthOptions,
) => { verifier: Verifier; settings: HttpAuthOptions } {
  const verifiers = new LRUCache<string, Verifier>({ max: maxConfigurations });
  return (config, options) => {
    checkAdapterOptions(options);
    if (isVerifier(config)) return checked({ verifier: config, settings: options });
    if (typeof config !== "object" || config === null) throw new TypeError("auth options must be an object");
    if ("verifier" in config && config.verifier !== undefined) {
      return checked({
        verifier: verifierFrom(config),
        settings: { ...(config as HttpAuthOptions), ...options },
      });
    }
    const key = configurationKey(config);
    let verifier = verifiers.get(key);
    if (!verifier) {
      verifier = verifierFrom(config);
      verifiers.set(key, verifier);
    }
    return checked({ verifier, settings: { ...(config as HttpAuthOptions), ...options } });
  };
}

/** Whether a value is a verifier rather than options. */
export function isVerifier(value: unknown): value is Verifier {
  return typeof value === "object" && value !== null && typeof (value as Verifier).verify === "function";
}
