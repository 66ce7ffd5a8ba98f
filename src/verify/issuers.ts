import { checkPlainUrl } from "../lib/http.js";
import { knownOptions, optionNamesOf, unknownOption } from "../lib/option-names.js";
import { PROVIDER_NAMES, tenantIssuers, tenantTemplates, VERIFIER_PRESETS } from "../providers.js";
import type { ClaimRule } from "./claims.js";
import { type DelegationPolicy, delegationPolicy } from "./delegation.js";
import {
  captureTenant,
  checkOpenTemplate,
  type IssuerTemplate,
  isTemplate,
  parseTemplate,
  TENANT_ID,
  tenantRule,
} from "./issuer-templates.js";
import {
  ISSUER_OPTION_NAMES,
  type IssuerOptions,
  type IssuerResolver,
  nonNegative,
  toList,
  VERIFIER_OPTION_NAMES,
  type VerifierOptions,
} from "./options.js";
import { DEFAULT_SCOPE_CLAIMS, type ScopeSource } from "./scopes.js";

/**
 * How an issuer's key set is kept: `"pinned"` for the configured issuers (and the listed tenants of a
 * template), `"resolved"` for issuers a resolver answered, `"open"` for tenants under `tenants: "any"`.
 */
export type KeyCache = "pinned" | "resolved" | "open";

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
  /** The tenant the issuer names: a template's placeholder, or the configured `tenant`. */
  readonly tenant: string | undefined;
  /** The token's tenant claim: equal to `tenant`, or (without one) the token's tenant. */
  readonly tenantClaim: string | undefined;
  /** The accepted values of `tenantClaim` for an issuer without a tenant of its own. */
  readonly tenants: ReadonlySet<string> | undefined;
  readonly delegation: DelegationPolicy;
  readonly keyCache: KeyCache;
}

/** An issuer template under `tenants: "any"`: each tenant's rule is made from it when its token comes. */
export interface TemplateRule {
  readonly template: IssuerTemplate;
  /** `jwksUri` with the same placeholder, if configured so. */
  readonly jwksTemplate: IssuerTemplate | undefined;
  /** The rule of every tenant, but for `issuer`, `tenant` and a templated `jwksUri`. */
  readonly base: IssuerRule;
}

/** The issuers a verifier accepts, as configured. */
export interface IssuerConfig {
  /** Configured issuers, and the listed tenants of templates, by `iss`. */
  readonly rules: ReadonlyMap<string, IssuerRule>;
  /** Templates whose every tenant is accepted (`tenants: "any"`). */
  readonly templates: readonly TemplateRule[];
  /** Every configured template, listed tenants or not. */
  readonly templateStrings: readonly string[];
  /** The `issuers` function, with the compiler of its answers. */
  readonly resolver:
    | {
        readonly resolve: IssuerResolver;
        /** The rule for `iss` from an answer; a `TypeError` when the answer is not a valid entry for it. */
        readonly compile: (entry: unknown, iss: string) => IssuerRule;
        readonly cacheMs: number;
      }
    | undefined;
}

/** Names of entry options that are not inherited from the top level: each entry has its own. */
const OWN_OPTIONS = new Set(["issuer", "tenant", "tenants", "audience"]);

/** The issuers of a verifier: `issuer`/`tenant` and `audience`, or `issuers` (a list or a resolver). */
export function buildIssuerRules(
  options: VerifierOptions,
  allowInsecureHttp: boolean,
  where: string,
): IssuerConfig {
  const rules = new Map<string, IssuerRule>();
  const templates: TemplateRule[] = [];
  const templateStrings: string[] = [];
  const add = (entry: IssuerOptions, at: string, issuers: readonly string[] | undefined) => {
    const compiled = ruleFrom(entry, at, where, allowInsecureHttp, issuers, "pinned");
    for (const r of compiled.rules) {
      if (rules.has(r.issuer)) throw new TypeError(`${at || where}: issuer ${r.issuer} is listed twice`);
      rules.set(r.issuer, r);
    }
    templates.push(...compiled.templates);
    templateStrings.push(...compiled.templateStrings);
  };
  if (options.resolverCacheMs !== undefined && typeof options.issuers !== "function") {
    throw new TypeError("resolverCacheMs goes with issuers as a function (a resolver)");
  }
  if (options.issuers !== undefined) {
    if (
      options.issuer !== undefined ||
      options.audience !== undefined ||
      options.tenant !== undefined ||
      options.tenants !== undefined
    ) {
      throw new TypeError("issuers replaces issuer, tenant, tenants and audience: give each entry its own");
    }
    const { issuers, ...rest } = options;
    const defaults = pick(rest);
    if (typeof issuers === "function") {
      const cacheMs = nonNegative(options.resolverCacheMs ?? 300_000, "resolverCacheMs");
      const compile = (entry: unknown, iss: string) =>
        resolvedRule(entry, iss, defaults, where, allowInsecureHttp);
      return { rules, templates, templateStrings, resolver: { resolve: issuers, compile, cacheMs } };
    }
    if (!Array.isArray(issuers) || issuers.length === 0) {
      throw new TypeError("issuers must be a non-empty array of { issuer, audience, … }, or a function");
    }
    issuers.forEach((entry, i) => {
      const at = `issuers[${i}]`;
      add(entryWithDefaults(entry, defaults, at, where), at, undefined);
    });
    return { rules, templates, templateStrings, resolver: undefined };
  }
  const issuer = options.issuer;
  add(
    { ...(options as IssuerOptions), issuer: undefined },
    "",
    issuer === undefined ? undefined : toList(issuer, "issuer"),
  );
  return { rules, templates, templateStrings, resolver: undefined };
}

/** An `issuers` entry (or a resolver's answer) checked by name, over the top-level defaults. */
function entryWithDefaults(
  entry: unknown,
  defaults: IssuerOptions,
  at: string,
  where: string,
): IssuerOptions {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new TypeError(`${at} must be an object`);
  }
  for (const key of optionNamesOf(entry)) {
    if (Object.hasOwn(ISSUER_OPTION_NAMES, key)) continue;
    if (Object.hasOwn(VERIFIER_OPTION_NAMES, key)) {
      throw new TypeError(
        `${at}.${key} is not a per-issuer option: set it at the top level of ${where}, for every issuer`,
      );
    }
    throw unknownOption(key, [ISSUER_OPTION_NAMES], where, `${at}.`);
  }
  // Read as a plain object: an option inherited from a prototype counts as an own one.
  const own = knownOptions(entry as IssuerOptions, [ISSUER_OPTION_NAMES]);
  const merged: IssuerOptions = { ...defaults, ...own };
  if (own.provider !== undefined && own.scopeClaim === undefined) merged.scopeClaim = undefined;
  if (own.provider !== undefined && own.audienceClaim === undefined) merged.audienceClaim = undefined;
  return merged;
}

/**
 * The rule a resolver's answer gives `iss`: an entry whose issuer (a template, `provider` and `tenant`,
 * or left out for `iss` itself) accepts `iss`.
 */
function resolvedRule(
  entry: unknown,
  iss: string,
  defaults: IssuerOptions,
  where: string,
  allowInsecureHttp: boolean,
): IssuerRule {
  const at = "issuers(iss)";
  const merged = entryWithDefaults(entry, defaults, at, where);
  const own = knownOptions(entry as IssuerOptions, [ISSUER_OPTION_NAMES]);
  const issuers = own.issuer === undefined && own.tenant === undefined ? [iss] : undefined;
  const compiled = ruleFrom(merged, at, where, allowInsecureHttp, issuers, "resolved");
  const rule = compiled.rules.find((r) => r.issuer === iss);
  if (rule !== undefined) return rule;
  for (const template of compiled.templates) {
    const tenant = captureTenant(template.template, iss);
    if (tenant !== undefined) return tenantRule(template, tenant, "resolved");
  }
  throw new TypeError(`${at} answered an entry whose issuer does not accept the token's iss`);
}

function pick(defaults: Omit<VerifierOptions, "issuers">): IssuerOptions {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(ISSUER_OPTION_NAMES)) {
    if (!OWN_OPTIONS.has(key) && key in defaults) picked[key] = (defaults as Record<string, unknown>)[key];
  }
  return picked as unknown as IssuerOptions;
}

interface CompiledEntry {
  rules: IssuerRule[];
  templates: TemplateRule[];
  templateStrings: string[];
}

/** The rules of one entry; `at` places its options in messages (`issuers[1]`), `where` is the caller. */
function ruleFrom(
  entry: IssuerOptions,
  at: string,
  where: string,
  allowInsecureHttp: boolean,
  issuerList: readonly string[] | undefined,
  keyCache: KeyCache,
): CompiledEntry {
  const name = (option: string) => (at ? `${at}.${option}` : option);
  if (entry.provider !== undefined && !PROVIDER_NAMES.includes(entry.provider)) {
    throw new TypeError(`${name("provider")} must be one of ${PROVIDER_NAMES.join(", ")}`);
  }
  let issuers = issuerList ?? (entry.issuer === undefined ? undefined : toList(entry.issuer, name("issuer")));
  let configuredTenant: string | undefined;
  if (entry.tenant !== undefined) {
    if (entry.provider === undefined || issuers !== undefined) {
      throw new TypeError(`${name("tenant")} goes with provider, instead of issuer`);
    }
    const tenant = toList(entry.tenant, name("tenant"))[0] as string;
    issuers = tenantTemplates(entry.provider, tenant);
    if (issuers === undefined) {
      issuers = tenantIssuers(entry.provider, tenant);
      configuredTenant = tenant;
    }
  }
  if (issuers === undefined) throw new TypeError(`${name("issuer")} is required (or provider and tenant)`);
  if (entry.audience === undefined) {
    throw new TypeError(
      `${name("audience")} is required (a string or array; null turns the audience check off)`,
    );
  }
  const audiences = entry.audience === null ? null : toList(entry.audience, name("audience"));
  const preset = entry.provider === undefined ? undefined : VERIFIER_PRESETS[entry.provider];
  for (const option of ["audienceClaim", "tenantClaim"] as const) {
    const value = entry[option];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new TypeError(`${name(option)} must be a non-empty string`);
    }
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
  const templated = issuers.some(isTemplate);
  const tenants = checkTenants(entry, templated, name);
  const jwksTemplate =
    entry.jwksUri !== undefined && typeof entry.jwksUri === "string" && isTemplate(entry.jwksUri)
      ? parseTemplate(entry.jwksUri, name("jwksUri"), allowInsecureHttp)
      : undefined;
  const jwksUri =
    entry.jwksUri === undefined || jwksTemplate !== undefined
      ? undefined
      : checkPlainUrl(entry.jwksUri, name("jwksUri"), allowInsecureHttp).href;
  const base: Omit<IssuerRule, "issuer" | "tenant" | "tenantClaim" | "tenants"> = {
    audiences,
    audienceClaim: entry.audienceClaim ?? preset?.audienceClaim ?? "aud",
    scopeSources,
    claims: Object.entries({ ...preset?.claims, ...entry.claims }),
    requireTyp: entry.requireTyp === true ? "at+jwt" : entry.requireTyp || undefined,
    jwksUri,
    delegation: delegationPolicy(entry, name, where),
    keyCache,
  };
  const compiled: CompiledEntry = { rules: [], templates: [], templateStrings: [] };
  for (const issuer of issuers) {
    if (!isTemplate(issuer)) {
      checkPlainUrl(issuer, name("issuer"), allowInsecureHttp);
      if (jwksTemplate !== undefined) {
        throw new TypeError(`${name("jwksUri")} has a placeholder, and issuer ${issuer} has none`);
      }
      compiled.rules.push(
        Object.freeze({
          ...base,
          issuer,
          tenant: configuredTenant,
          tenantClaim: entry.tenantClaim,
          tenants: Array.isArray(tenants) ? new Set(tenants) : undefined,
        }),
      );
      continue;
    }
    const template = parseTemplate(issuer, name("issuer"), allowInsecureHttp);
    if (tenants === "any") {
      checkOpenTemplate(template, name("issuer"));
      if (jwksTemplate !== undefined) checkOpenTemplate(jwksTemplate, name("jwksUri"));
    }
    if (jwksTemplate !== undefined && jwksTemplate.placeholder !== template.placeholder) {
      throw new TypeError(
        `${name("jwksUri")} must use the placeholder of its issuer template, ${template.placeholder}`,
      );
    }
    const rule: TemplateRule = Object.freeze({
      template,
      jwksTemplate,
      base: Object.freeze({
        ...base,
        issuer,
        tenant: undefined,
        tenantClaim: entry.tenantClaim ?? preset?.tenantClaim,
        tenants: undefined,
      }),
    });
    compiled.templateStrings.push(issuer);
    if (tenants === "any") compiled.templates.push(rule);
    else
      for (const tenant of tenants as readonly string[])
        compiled.rules.push(tenantRule(rule, tenant, keyCache));
  }
  return compiled;
}

/** `tenants`: required with a template (ids a placeholder can capture), else only with `tenantClaim`. */
function checkTenants(
  entry: IssuerOptions,
  templated: boolean,
  name: (option: string) => string,
): readonly string[] | "any" | undefined {
  const { tenants } = entry;
  if (tenants === undefined) {
    if (templated) {
      throw new TypeError(
        `${name("tenants")} is required with an issuer template: a list of tenant ids, or "any" (every tenant of the provider, whose administrators can then grant their own apps this API's roles)`,
      );
    }
    return undefined;
  }
  if (tenants !== "any") {
    if (!Array.isArray(tenants) || tenants.length === 0) {
      throw new TypeError(`${name("tenants")} must be a non-empty array of tenant ids, or "any"`);
    }
    tenants.forEach((tenant: unknown, i) => {
      const valid = typeof tenant === "string" && (templated ? TENANT_ID.test(tenant) : tenant !== "");
      if (!valid) {
        throw new TypeError(
          templated
            ? `${name("tenants")}[${i}] must be 1 to 64 letters, digits and "-" (what a placeholder matches)`
            : `${name("tenants")}[${i}] must be a non-empty string`,
        );
      }
    });
  }
  if (!templated && entry.tenantClaim === undefined) {
    throw new TypeError(`${name("tenants")} goes with an issuer template, or with tenantClaim`);
  }
  return tenants;
}

/** An object literal (or `Object.create(null)`): not an array, a `Map` or a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
