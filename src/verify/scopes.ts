import type { JWTPayload } from "jose";
import { InsufficientScopeError } from "../errors.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { toList } from "./options.js";

/**
 * Scopes a call needs: all of a list (a space-delimited string or an array), or `{ anyOf }` /
 * `{ allOf }` with exactly one of the two keys. An empty list or string, both keys, or a scope that is
 * not an RFC 6749 §3.3 scope token (a line break, a non-ASCII letter, `"`) is a `TypeError`.
 */
export type ScopeRequirement =
  | string
  | readonly string[]
  | {
      /** At least one of these scopes. */
      anyOf: readonly string[];
    }
  | {
      /** Every one of these scopes (as a plain list). */
      allOf: readonly string[];
    };

export interface NormalizedRequirement {
  scopes: readonly string[];
  anyOf: boolean;
}

/** Read when neither `scopeClaim` nor a provider preset names the claims. */
export const DEFAULT_SCOPE_CLAIMS: readonly string[] = ["scope", "scp", "permissions", "roles"];

export function normalizeRequirement(
  value: ScopeRequirement | undefined,
  option: string,
): NormalizedRequirement | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") {
    // RFC 6749 §3.3: scope tokens separated by spaces (other whitespace is refused as a token).
    const scopes = value.split(" ").filter(Boolean);
    // An empty string would mean "no scope needed" where `[]` is refused: refused too.
    if (scopes.length === 0) throw new TypeError(`${option} must name at least one scope`);
    checkScopeTokens(scopes, option);
    return { scopes, anyOf: false };
  }
  if (Array.isArray(value)) return checked(toList(value as string[], option), option, false);
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value);
    // One of anyOf / allOf: both at once would leave one of them unchecked, so it is refused.
    if (keys.length === 1 && keys[0] === "anyOf") {
      return checked(
        toList((value as { anyOf: string[] }).anyOf, `${option}.anyOf`),
        `${option}.anyOf`,
        true,
      );
    }
    if (keys.length === 1 && keys[0] === "allOf") {
      return checked(
        toList((value as { allOf: string[] }).allOf, `${option}.allOf`),
        `${option}.allOf`,
        false,
      );
    }
    throw new TypeError(
      `${option} must be { anyOf } or { allOf }, with one key (got ${keys.join(", ") || "none"})`,
    );
  }
  throw new TypeError(`${option} must be a string, an array of strings, { anyOf } or { allOf }`);
}

function checked(scopes: readonly string[], option: string, anyOf: boolean): NormalizedRequirement {
  checkScopeTokens(scopes, option);
  return { scopes, anyOf };
}

export function checkScopes(
  requirement: NormalizedRequirement | undefined,
  granted: readonly string[],
): void {
  if (!requirement || requirement.scopes.length === 0) return;
  const ok = requirement.anyOf
    ? requirement.scopes.some((s) => granted.includes(s))
    : requirement.scopes.every((s) => granted.includes(s));
  if (!ok) throw new InsufficientScopeError(requirement.scopes, granted, requirement.anyOf);
}

/** A claim name (a dotted name that is not a claim is a path), or an explicit path of keys. */
export type ScopeSource = string | readonly string[];

/** Values of a claim, or of a path into nested claims (`*` matches every key). */
export function claimValues(claims: JWTPayload, source: ScopeSource): unknown[] {
  let path: readonly string[];
  if (typeof source === "string") {
    if (source in claims || !source.includes(".")) return [claims[source]];
    path = source.split(".");
  } else {
    path = source;
  }
  let current: unknown[] = [claims];
  for (const part of path) {
    const next: unknown[] = [];
    for (const value of current) {
      if (typeof value !== "object" || value === null) continue;
      if (part === "*") next.push(...Object.values(value));
      else if (Object.hasOwn(value, part)) next.push((value as Record<string, unknown>)[part]);
    }
    current = next;
  }
  return current;
}

/** The granted scopes: every value of the named claims, deduplicated. */
export function scopesFrom(claims: JWTPayload, names: readonly ScopeSource[]): string[] {
  const scopes: string[] = [];
  const add = (scope: unknown) => {
    if (typeof scope === "string" && scope !== "" && !scopes.includes(scope)) scopes.push(scope);
  };
  for (const name of names) {
    for (const value of claimValues(claims, name)) {
      if (typeof value === "string") for (const scope of value.split(" ")) add(scope);
      else if (Array.isArray(value)) for (const scope of value) add(scope);
      else if (typeof value === "object" && value !== null)
        for (const scope of Object.keys(value)) add(scope);
    }
  }
  return scopes;
}
