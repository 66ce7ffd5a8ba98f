import type { JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { InvalidTokenError, VerifierUnavailableError } from "../errors.js";
import { checkPlainUrl } from "../lib/http.js";
import { requestScopedIo } from "../lib/runtime.js";
import { captureTenant, tenantRule } from "./issuer-templates.js";
import type { IssuerConfig, IssuerRule, TemplateRule } from "./issuers.js";
import type { Verifier } from "./options.js";

/** Answers of an `issuers` resolver kept (each of accepted and refused issuers). */
const RESOLVER_ANSWERS = 10_000;
/** Characters of the issuers whose answers are kept, in all (each of accepted and refused issuers). */
const RESOLVER_ANSWER_CHARS = 1_000_000;
/**
 * The longest `iss` a resolver is asked about: issuer identifiers are short URLs, and an `iss` a
 * token may make as long as `maxTokenBytes` must not fill the caches of answers.
 */
export const MAX_RESOLVED_ISSUER_CHARS = 1_024;

const byIssuerLength = { max: RESOLVER_ANSWERS, maxSize: RESOLVER_ANSWER_CHARS };

/**
 * The issuers a verifier accepts, for what describes the API (RFC 9728 `authorization_servers`):
 * - `"fixed"`: exactly `issuers`;
 * - `"templates"`: `issuers` (configured ones, and the listed tenants of templates) and tenants of
 *   `templates` (`tenants: "any"`: any tenant): no list can name them all;
 * - `"resolver"`: decided per token by an `issuers` function: no list at all.
 */
export interface AcceptedIssuers {
  readonly kind: "fixed" | "templates" | "resolver";
  /** Issuers accepted as they are. Empty for a resolver. */
  readonly issuers: readonly string[];
  /** Issuer templates, as configured (`https://login.microsoftonline.com/{tenantid}/v2.0`). */
  readonly templates: readonly string[];
}

/** The key of a verifier's {@link AcceptedIssuers}. */
export const acceptedIssuers: unique symbol = Symbol.for("m2m-kit.verifier.acceptedIssuers");

/** What a verifier made by `createVerifier` accepts; `undefined` for a verifier of another making. */
export function acceptedIssuersOf(verifier: Verifier): AcceptedIssuers | undefined {
  return (verifier as { [acceptedIssuers]?: AcceptedIssuers })[acceptedIssuers];
}

interface Answer {
  at: number;
  rule: IssuerRule;
}

/**
 * Picks the rules of a token's issuer before any key is fetched: a configured issuer, a tenant of a
 * template, or a resolver's answer. The resolver is asked once per issuer at a time (callers share
 * the call); its answers, refusals included, are kept for `resolverCacheMs` in bounded caches.
 */
export class IssuerMatcher {
  readonly accepted: AcceptedIssuers;
  readonly #fixed: ReadonlyMap<string, IssuerRule>;
  readonly #templates: readonly TemplateRule[];
  readonly #resolver: IssuerConfig["resolver"];
  readonly #now: () => number;
  readonly #allowInsecureHttp: boolean;
  readonly #answers = new LRUCache<string, Answer>({
    ...byIssuerLength,
    sizeCalculation: (_answer, iss) => iss.length,
  });
  readonly #refusals = new LRUCache<string, number>({
    ...byIssuerLength,
    sizeCalculation: (_at, iss) => iss.length,
  });
  readonly #pending = new Map<string, Promise<IssuerRule | undefined>>();

  constructor(config: IssuerConfig, now: () => number, allowInsecureHttp: boolean) {
    this.#fixed = config.rules;
    this.#templates = config.templates;
    this.#resolver = config.resolver;
    this.#now = now;
    this.#allowInsecureHttp = allowInsecureHttp;
    const issuers = Object.freeze([...config.rules.keys()]);
    const templates = Object.freeze([...config.templateStrings]);
    this.accepted = Object.freeze(
      config.resolver
        ? { kind: "resolver", issuers: Object.freeze([]), templates }
        : { kind: templates.length > 0 ? "templates" : "fixed", issuers, templates },
    );
  }

  /**
   * The configured issuers' rules (templates' listed tenants included), and the rule of each template
   * under `"any"` with one `jwksUri` for every tenant: that key set is configured, kept for good and
   * fetched once, never a new tenant's (its issuer, the template itself, is no token's `iss`).
   */
  get configured(): Iterable<IssuerRule> {
    const shared = this.#templates.filter(
      (t) => t.jwksTemplate === undefined && t.base.jwksUri !== undefined,
    );
    return [...this.#fixed.values(), ...shared.map((t) => t.base)];
  }

  /** The one rule of a verifier of one issuer (no template, no resolver), else `undefined`. */
  get single(): IssuerRule | undefined {
    if (this.#fixed.size !== 1 || this.#templates.length > 0 || this.#resolver) return undefined;
    return this.#fixed.values().next().value;
  }

  /**
   * The rule of `iss`: at once when it is configured, a template's tenant or a kept answer; a
   * promise when the resolver must be asked; `undefined` when the token is refused.
   */
  match(iss: unknown): IssuerRule | undefined | Promise<IssuerRule | undefined> {
    if (typeof iss !== "string") return undefined;
    const fixed = this.#fixed.get(iss);
    if (fixed !== undefined) return fixed;
    for (const template of this.#templates) {
      const tenant = captureTenant(template.template, iss);
      if (tenant !== undefined) return tenantRule(template, tenant, "open");
    }
    return this.#resolver === undefined ? undefined : this.#resolve(iss);
  }

  /**
   * Whether a rule still holds (a verified-token cache hit): configured rules always do, a resolver's
   * answer while it is kept (a changed or expired answer is a miss, asked again).
   */
  holds(rule: IssuerRule): boolean {
    if (rule.keyCache !== "resolved") return true;
    const answer = this.#answers.get(rule.issuer);
    return answer !== undefined && answer.rule === rule && this.#now() - answer.at < this.#cacheMs;
  }

  /** Whether `iss` is one of yours (configured, or a resolver accepted it): events may name it. */
  listed(iss: unknown): boolean {
    return typeof iss === "string" && (this.#fixed.has(iss) || this.#answers.peek(iss) !== undefined);
  }

  get #cacheMs(): number {
    return this.#resolver?.cacheMs ?? 0;
  }

  #resolve(iss: string): IssuerRule | undefined | Promise<IssuerRule | undefined> {
    const now = this.#now();
    const answer = this.#answers.get(iss);
    if (answer !== undefined && now - answer.at < this.#cacheMs) return answer.rule;
    const refusedAt = this.#refusals.get(iss);
    if (refusedAt !== undefined && now - refusedAt < this.#cacheMs) return undefined;
    // An iss that cannot be an issuer identifier is refused without asking.
    if (iss.length > MAX_RESOLVED_ISSUER_CHARS) return undefined;
    try {
      checkPlainUrl(iss, "iss", this.#allowInsecureHttp);
    } catch {
      return undefined;
    }
    // On Workers each request asks on its own until an answer is kept (lib/runtime.ts).
    if (requestScopedIo) return this.#ask(iss);
    let pending = this.#pending.get(iss);
    if (pending === undefined) {
      pending = this.#ask(iss).finally(() => this.#pending.delete(iss));
      this.#pending.set(iss, pending);
    }
    return pending;
  }

  async #ask(iss: string): Promise<IssuerRule | undefined> {
    const resolver = this.#resolver as NonNullable<IssuerConfig["resolver"]>;
    let entry: unknown;
    try {
      entry = await resolver.resolve(iss);
    } catch (cause) {
      throw new VerifierUnavailableError("the issuers resolver failed", { cause });
    }
    if (entry === undefined || entry === null) {
      this.#answers.delete(iss);
      this.#refusals.set(iss, this.#now());
      return undefined;
    }
    const rule = resolver.compile(entry, iss);
    this.#refusals.delete(iss);
    this.#answers.set(iss, { at: this.#now(), rule });
    return rule;
  }
}

/**
 * The token's tenant under its issuer's rule, checked before any key is fetched: the tenant claim
 * must equal the tenant its `iss` names, or (for an issuer without one) be an accepted tenant.
 */
export function checkTenant(rule: IssuerRule, claims: JWTPayload): string | undefined {
  const { tenant, tenantClaim, tenants } = rule;
  if (tenantClaim === undefined) return tenant;
  const value = claims[tenantClaim];
  if (value === undefined) {
    throw new InvalidTokenError("ERR_JWT_CLAIM_MISSING", `token has no ${tenantClaim} claim`);
  }
  if (tenant !== undefined) {
    if (value !== tenant) {
      throw new InvalidTokenError(
        "ERR_JWT_ISSUER",
        `token ${tenantClaim} claim is not the tenant its issuer names`,
      );
    }
    return tenant;
  }
  if (typeof value !== "string" || value === "") {
    throw new InvalidTokenError("ERR_JWT_MALFORMED", `token ${tenantClaim} claim is not a string`);
  }
  if (tenants !== undefined && !tenants.has(value)) {
    throw new InvalidTokenError("ERR_JWT_ISSUER", "token tenant is not accepted");
  }
  return value;
}
