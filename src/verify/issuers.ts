import { DiscoveryError, VerifierUnavailableError } from "../errors.js";
import { discover } from "../lib/discovery.js";
import { checkUrl, type FetchLike } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import { unknownOption } from "../lib/option-names.js";
import { requestScopedIo } from "../lib/runtime.js";
import type { Platform } from "../platform/types.js";
import { PROVIDER_NAMES, tenantIssuers, VERIFIER_PRESETS } from "../providers.js";
import type { ClaimRule } from "./claims.js";
import { emitTo, type VerifierEventListener } from "./events.js";
import { type JwksSettings, RemoteJwks } from "./jwks.js";
import {
  ISSUER_OPTION_NAMES,
  type IssuerOptions,
  toList,
  VERIFIER_OPTION_NAMES,
  type VerifierOptions,
} from "./options.js";
import { DEFAULT_SCOPE_CLAIMS, type ScopeSource } from "./scopes.js";

/** The checks that depend on the issuer, chosen by the token's `iss` before any key is fetched. */
export interface IssuerRule {
  readonly issuer: string;
  /** `null`: no audience check (explicitly configured). */
  readonly audiences: readonly string[] | null;
  readonly audienceClaim: string;
  readonly scopeSources: readonly ScopeSource[];
  readonly claims: ReadonlyArray<readonly [string, ClaimRule]>;
  readonly requireTyp: string | undefined;
  /** This issuer's JWKS URL, when configured (else discovery). */
  readonly jwksUri: string | undefined;
}

/** One rule per accepted issuer, from `issuer`/`tenant` and `audience`, or from `issuers`. */
export function buildIssuerRules(
  options: VerifierOptions,
  allowInsecureHttp: boolean,
  where: string,
): Map<string, IssuerRule> {
  const rules = new Map<string, IssuerRule>();
  const add = (entry: IssuerOptions, where: string, issuers: readonly string[] | undefined) => {
    const rule = ruleFrom(entry, where, allowInsecureHttp, issuers);
    for (const r of rule) {
      if (rules.has(r.issuer)) throw new TypeError(`${where}: issuer ${r.issuer} is listed twice`);
      rules.set(r.issuer, r);
    }
  };
  if (options.issuers !== undefined) {
    if (options.issuer !== undefined || options.audience !== undefined || options.tenant !== undefined) {
      throw new TypeError("issuers replaces issuer, tenant and audience: give each entry its own");
    }
    if (!Array.isArray(options.issuers) || options.issuers.length === 0) {
      throw new TypeError("issuers must be a non-empty array of { issuer, audience, … }");
    }
    const { issuers, ...defaults } = options;
    options.issuers.forEach((entry, i) => {
      const at = `issuers[${i}]`;
      if (typeof entry !== "object" || entry === null) throw new TypeError(`${at} must be an object`);
      for (const key of Object.keys(entry)) {
        if (Object.hasOwn(ISSUER_OPTION_NAMES, key)) continue;
        if (Object.hasOwn(VERIFIER_OPTION_NAMES, key)) {
          throw new TypeError(
            `${at}.${key} is not a per-issuer option: set it at the top level of ${where}, for every issuer`,
          );
        }
        throw unknownOption(key, [ISSUER_OPTION_NAMES], where, `${at}.`);
      }
      const merged: IssuerOptions = { ...pick(defaults), ...entry };
      if (entry.provider !== undefined && entry.scopeClaim === undefined) merged.scopeClaim = undefined;
      if (entry.provider !== undefined && entry.audienceClaim === undefined) merged.audienceClaim = undefined;
      add(merged, at, undefined);
    });
    return rules;
  }
  const issuer = options.issuer;
  add(
    { ...(options as IssuerOptions), issuer: undefined },
    "",
    issuer === undefined ? undefined : toList(issuer, "issuer"),
  );
  return rules;
}

function pick(defaults: Omit<VerifierOptions, "issuers">): IssuerOptions {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(ISSUER_OPTION_NAMES)) {
    if (key !== "issuer" && key !== "tenant" && key !== "audience" && key in defaults)
      picked[key] = (defaults as Record<string, unknown>)[key];
  }
  return picked as unknown as IssuerOptions;
}

function ruleFrom(
  entry: IssuerOptions,
  where: string,
  allowInsecureHttp: boolean,
  issuerList: readonly string[] | undefined,
): IssuerRule[] {
  const name = (option: string) => (where ? `${where}.${option}` : option);
  if (entry.provider !== undefined && !PROVIDER_NAMES.includes(entry.provider)) {
    throw new TypeError(`${name("provider")} must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  let issuers = issuerList ?? (entry.issuer === undefined ? undefined : toList(entry.issuer, name("issuer")));
  if (entry.tenant !== undefined) {
    if (entry.provider === undefined || issuers !== undefined) {
      throw new TypeError(`${name("tenant")} goes with provider, instead of issuer`);
    }
    issuers = tenantIssuers(entry.provider, toList(entry.tenant, name("tenant"))[0] as string);
  }
  if (issuers === undefined) throw new TypeError(`${name("issuer")} is required (or provider and tenant)`);
  if (entry.audience === undefined) {
    throw new TypeError(
      `${name("audience")} is required (a string or array; null turns the audience check off)`,
    );
  }
  const audiences = entry.audience === null ? null : toList(entry.audience, name("audience"));
  const preset = entry.provider === undefined ? undefined : VERIFIER_PRESETS[entry.provider];
  if (
    entry.audienceClaim !== undefined &&
    (typeof entry.audienceClaim !== "string" || entry.audienceClaim === "")
  ) {
    throw new TypeError(`${name("audienceClaim")} must be a non-empty string`);
  }
  if (
    entry.requireTyp !== undefined &&
    typeof entry.requireTyp !== "boolean" &&
    (typeof entry.requireTyp !== "string" || entry.requireTyp.trim() === "")
  ) {
    throw new TypeError(`${name("requireTyp")} must be a boolean or a non-empty string`);
  }
  if (entry.claims !== undefined && !isPlainObject(entry.claims)) {
    throw new TypeError(`${name("claims")} must be an object of claim rules`);
  }
  const baseSources =
    entry.scopeClaim === undefined
      ? (preset?.scopeClaim ?? DEFAULT_SCOPE_CLAIMS)
      : toList(entry.scopeClaim, name("scopeClaim"));
  // Roles defined by the API's own client (Keycloak) or project (Zitadel), never another's.
  const roleSources: ScopeSource[] =
    entry.resourceClientId !== undefined
      ? toList(entry.resourceClientId, name("resourceClientId")).map((client) => [
          "resource_access",
          client,
          "roles",
        ])
      : preset?.audienceRoles && entry.scopeClaim === undefined
        ? (audiences ?? []).map(preset.audienceRoles)
        : [];
  const scopeSources: ScopeSource[] = [...baseSources, ...roleSources];
  const jwksUri =
    entry.jwksUri === undefined
      ? undefined
      : checkUrl(entry.jwksUri, name("jwksUri"), allowInsecureHttp).href;
  return issuers.map((issuer) => {
    checkUrl(issuer, name("issuer"), allowInsecureHttp);
    return Object.freeze({
      issuer,
      audiences,
      audienceClaim: entry.audienceClaim ?? preset?.audienceClaim ?? "aud",
      scopeSources,
      claims: Object.entries({ ...preset?.claims, ...entry.claims }),
      requireTyp: entry.requireTyp === true ? "at+jwt" : entry.requireTyp || undefined,
      jwksUri,
    });
  });
}

export interface IssuerKeysOptions<Key> {
  rules: ReadonlyMap<string, IssuerRule>;
  settings: JwksSettings;
  fetch: FetchLike;
  now: () => number;
  platform: Platform<Key>;
  allowInsecureHttp: boolean;
  onEvent: VerifierEventListener | undefined;
  /** Runs discoveries and JWKS fetches as operations (instrumentation). */
  run?: RunOperation;
}

/**
 * Routes an issuer to its key set: the issuer's `jwksUri` (one `RemoteJwks` per URL, shared by the
 * issuers that name it) or the one its discovery document names, found lazily on the issuer's first
 * token. A failed discovery is remembered for the cooldown.
 */
export class IssuerKeys<Key> {
  readonly #options: IssuerKeysOptions<Key>;
  readonly #byUri = new Map<string, RemoteJwks<Key>>();
  readonly #byIssuer = new Map<string, RemoteJwks<Key>>();
  readonly #discovering = new Map<string, Promise<RemoteJwks<Key>>>();
  readonly #failedAt = new Map<string, { at: number; error: VerifierUnavailableError }>();

  constructor(options: IssuerKeysOptions<Key>) {
    this.#options = options;
    for (const rule of options.rules.values()) {
      if (rule.jwksUri !== undefined) this.#byIssuer.set(rule.issuer, this.#jwksAt(rule.jwksUri));
    }
  }

  /** Every key set known so far. */
  get all(): ReadonlyArray<RemoteJwks<Key>> {
    return [...this.#byUri.values()];
  }

  /** The key set of an issuer when it is already known (no I/O). */
  known(issuer: string): RemoteJwks<Key> | undefined {
    return this.#byIssuer.get(issuer);
  }

  /** The key set of an issuer, discovering it first when needed. */
  async forIssuer(issuer: string): Promise<RemoteJwks<Key>> {
    const known = this.#byIssuer.get(issuer);
    if (known) return known;
    const failed = this.#failedAt.get(issuer);
    if (failed && this.#options.now() - failed.at < this.#options.settings.cooldownMs) throw failed.error;
    // On Workers each request discovers on its own until one has succeeded (lib/runtime.ts).
    if (requestScopedIo) return this.#discover(issuer);
    let pending = this.#discovering.get(issuer);
    if (!pending) {
      pending = this.#discover(issuer).finally(() => this.#discovering.delete(issuer));
      this.#discovering.set(issuer, pending);
    }
    return pending;
  }

  /** Discovers and fetches the keys of every issuer now. */
  async warmUp(): Promise<void> {
    const sets = await Promise.all([...this.#options.rules.keys()].map((issuer) => this.forIssuer(issuer)));
    await Promise.all([...new Set(sets)].map((jwks) => jwks.warmUp()));
  }

  #jwksAt(uri: string): RemoteJwks<Key> {
    let jwks = this.#byUri.get(uri);
    if (!jwks) {
      const { settings, fetch, now, platform, onEvent, run } = this.#options;
      jwks = new RemoteJwks(uri, settings, fetch, now, platform, onEvent, run);
      this.#byUri.set(uri, jwks);
    }
    return jwks;
  }

  async #discover(issuer: string): Promise<RemoteJwks<Key>> {
    const started = this.#options.now();
    try {
      const request = () =>
        discover(issuer, {
          fetch: this.#options.fetch,
          timeoutMs: this.#options.settings.timeoutMs,
          allowInsecureHttp: this.#options.allowInsecureHttp,
        });
      const run = this.#options.run;
      const metadata = await (run ? run({ kind: "discovery", issuer }, request) : request());
      if (typeof metadata.jwks_uri !== "string")
        throw new DiscoveryError(`discovery of ${issuer}: no jwks_uri`);
      const jwks = this.#jwksAt(
        checkUrl(metadata.jwks_uri, "jwks_uri", this.#options.allowInsecureHttp).href,
      );
      this.#byIssuer.set(issuer, jwks);
      this.#failedAt.delete(issuer);
      return jwks;
    } catch (cause) {
      const error = new VerifierUnavailableError(
        `keys of ${issuer} unavailable: ${(cause as Error).message}`,
        {
          cause,
        },
      );
      this.#failedAt.set(issuer, { at: this.#options.now(), error });
      emitTo(this.#options.onEvent, {
        type: "jwks_failed",
        uri: `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
        issuer,
        durationMs: this.#options.now() - started,
        error,
      });
      throw error;
    }
  }
}

/** RFC 8414 `introspection_endpoint` of an issuer, as a `VerifierUnavailableError` when missing. */
export function discoverIntrospectionEndpoint(
  issuer: string,
  options: { fetch: FetchLike; timeoutMs: number; allowInsecureHttp: boolean },
): Promise<string> {
  return discover(issuer, options).then(
    (metadata) => {
      if (typeof metadata.introspection_endpoint !== "string") {
        throw new VerifierUnavailableError(`${issuer} publishes no introspection_endpoint`);
      }
      return metadata.introspection_endpoint;
    },
    (cause: Error) => {
      throw new VerifierUnavailableError(
        `introspection endpoint of ${issuer} unavailable: ${cause.message}`,
        {
          cause,
        },
      );
    },
  );
}

/** An object literal (or `Object.create(null)`): not an array, a `Map` or a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
