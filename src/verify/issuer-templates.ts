import { checkPlainUrl } from "../lib/http.js";
import type { IssuerRule, KeyCache, TemplateRule } from "./issuers.js";

/**
 * What a placeholder captures: letters, digits and `-`, 1 to 64 of them. No `.`, `/`, `%`, `:`,
 * `@`, `?` or `#`, so a captured value never leaves its host label or path segment, and the `iss`
 * is compared as a string (nothing is decoded or normalised).
 */
export const TENANT_ID = /^[A-Za-z0-9-]{1,64}$/;

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** An issuer (or JWKS URL) with one `{placeholder}` for the tenant. */
export interface IssuerTemplate {
  /** As configured, e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`. */
  readonly template: string;
  /** `{tenantid}`. */
  readonly placeholder: string;
  readonly prefix: string;
  readonly suffix: string;
}

/** Whether a configured issuer or JWKS URL is a template. */
export function isTemplate(value: string): boolean {
  return value.includes("{") || value.includes("}");
}

/**
 * Parses a template: exactly one placeholder, inside the host or the path (one label or segment),
 * never in the scheme, user info, port, query or fragment. A `TypeError` names `option` otherwise.
 */
export function parseTemplate(template: string, option: string, allowInsecureHttp: boolean): IssuerTemplate {
  // Before any message that shows the template: a password in it is never echoed.
  if (/^[^/?#]*:\/\/[^/?#]*@/.test(template)) {
    throw new TypeError(`${option} must not contain credentials (user:password@)`);
  }
  const found = [...template.matchAll(PLACEHOLDER)];
  const bad = (why: string) => new TypeError(`${option}: ${why} (in ${template})`);
  if (found.length !== 1) throw bad("a template has exactly one placeholder such as {tenantid}");
  const match = found[0] as RegExpExecArray;
  const prefix = template.slice(0, match.index);
  const suffix = template.slice(match.index + match[0].length);
  if (isTemplate(prefix) || isTemplate(suffix)) throw bad("braces are only allowed around the placeholder");
  if (template.includes("?") || template.includes("#")) throw bad("an issuer has no query or fragment");
  const scheme = prefix.indexOf("://");
  if (scheme < 0) throw bad("the placeholder must be in the host or the path");
  const before = prefix.slice(scheme + 3);
  if (!before.includes("/")) {
    // In the authority: the host it must be, so nothing of user info before or after it, no port before.
    const after = suffix.split("/")[0] as string;
    if (before.includes(":") || before.includes("@") || after.includes("@")) {
      throw bad("the placeholder must be in the host or the path, not the user info or the port");
    }
  }
  checkPlainUrl(prefix + "tenant" + suffix, option, allowInsecureHttp);
  return Object.freeze({ template, placeholder: match[0], prefix, suffix });
}

/**
 * Under `tenants: "any"`, a placeholder in the host must stand for a subdomain of a fixed domain
 * (`https://{tenant}.okta.com/`): the host labels after the placeholder's own label must be at least
 * two. Otherwise (`https://{tenant}example.com/`, `https://auth.{tenant}.com/`) a tenant names a
 * domain anyone can register, and its owner would serve their own keys. A `TypeError` names `option`.
 */
export function checkOpenTemplate(template: IssuerTemplate, option: string): void {
  const { prefix, suffix } = template;
  // In the path: the host is fixed text.
  if (prefix.slice(prefix.indexOf("://") + 3).includes("/")) return;
  const host = (suffix.split("/")[0] as string).split(":")[0]?.replace(/\.$/, "") ?? "";
  const dot = host.indexOf(".");
  const domain = dot < 0 ? "" : host.slice(dot + 1);
  if (domain.includes(".") && !domain.split(".").includes("")) return;
  throw new TypeError(
    `${option}: under tenants: "any" a placeholder in the host must be a subdomain of a fixed domain, such as https://{tenant}.example.com/; in ${template.template} a tenant could be a domain anyone can register`,
  );
}

/** The tenant an `iss` names under a template, or `undefined` when it does not have that shape. */
export function captureTenant(template: IssuerTemplate, iss: string): string | undefined {
  const { prefix, suffix } = template;
  if (iss.length <= prefix.length + suffix.length || !iss.startsWith(prefix) || !iss.endsWith(suffix)) {
    return undefined;
  }
  const tenant = iss.slice(prefix.length, iss.length - suffix.length);
  return TENANT_ID.test(tenant) ? tenant : undefined;
}

/** The template with its placeholder replaced by a tenant id (one that {@link TENANT_ID} accepts). */
export function fillTemplate(template: IssuerTemplate, tenant: string): string {
  return template.prefix + tenant + template.suffix;
}

/** The rule of one tenant under a template (`keyCache` says how its key set is kept). */
export function tenantRule(template: TemplateRule, tenant: string, keyCache: KeyCache): IssuerRule {
  const { base, jwksTemplate } = template;
  return Object.freeze({
    ...base,
    issuer: fillTemplate(template.template, tenant),
    tenant,
    jwksUri: jwksTemplate === undefined ? base.jwksUri : fillTemplate(jwksTemplate, tenant),
    keyCache,
  });
}
