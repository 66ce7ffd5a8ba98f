import type { JWTPayload } from "jose";
import { ClaimPolicyError, InvalidTokenError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";

/**
 * One actor of a delegation chain (RFC 8693 §4.1 `act`): the party acting on behalf of the token's
 * subject. `actor` is the one that acted before it (the `act` nested in this one).
 */
export interface Actor {
  /** The actor's `sub`, relative to its `iss` (or to the token's issuer when it has none). */
  readonly sub: string;
  /** The actor's issuer, when the `act` claim names one. */
  readonly iss?: string;
  /** The actor's client, when the `act` claim names one (RFC 8693 §4.3). */
  readonly client_id?: string;
  /** The previous actor of the chain: informational only (RFC 8693 §4.1). */
  readonly actor?: Actor;
}

/**
 * Whether delegated tokens (with an `act` claim) are accepted: `"allow"` (the default: accepted, the
 * chain reported as `AuthResult.actor`), `"forbid"` (refused) or `"require"` (only delegated tokens).
 */
export type DelegationMode = "allow" | "forbid" | "require";

/**
 * An actor that may act for a token's subject: `{ sub }` with an optional `iss` (default: the token's
 * issuer), or `{ client_id }`. Matched against the outermost actor only.
 */
export type AllowedActor =
  | {
      /** The actor's `sub`. */
      readonly sub: string;
      /** The actor's issuer. Default: the token's `iss` (an actor of another issuer does not match). */
      readonly iss?: string;
    }
  | {
      /** The actor's `client_id`. */
      readonly client_id: string;
    };

/** The names of {@link AllowedActor} (either form). */
export const ALLOWED_ACTOR_NAMES: OptionNames<AllowedActor> = { sub: true, iss: true, client_id: true };

/** The delegation rule of an issuer. */
export interface DelegationPolicy {
  readonly mode: DelegationMode;
  /** `undefined`: any actor. */
  readonly allowed: readonly AllowedActor[] | undefined;
}

const MODES: readonly DelegationMode[] = ["allow", "forbid", "require"];

/** Deeper `act` nesting than this is refused as malformed (a chain is a handful of hops). */
const MAX_CHAIN = 16;

export const ALLOW_ANY_DELEGATION: DelegationPolicy = /* @__PURE__ */ Object.freeze({
  mode: "allow",
  allowed: undefined,
});

/** Checks `delegation` and `allowedActors` of one issuer entry (`name` places them in messages). */
export function delegationPolicy(
  entry: { delegation?: unknown; allowedActors?: unknown },
  name: (option: string) => string,
  where: string,
): DelegationPolicy {
  const mode = entry.delegation ?? "allow";
  if (!MODES.includes(mode as DelegationMode)) {
    throw new TypeError(`${name("delegation")} must be "allow", "forbid" or "require"`);
  }
  if (entry.allowedActors === undefined) {
    return mode === "allow"
      ? ALLOW_ANY_DELEGATION
      : Object.freeze({ mode: mode as DelegationMode, allowed: undefined });
  }
  if (mode === "forbid") {
    throw new TypeError(`${name("allowedActors")} contradicts delegation: "forbid"`);
  }
  if (!Array.isArray(entry.allowedActors)) {
    throw new TypeError(`${name("allowedActors")} must be an array of { sub, iss? } or { client_id }`);
  }
  const allowed = entry.allowedActors.map((actor: unknown, i) => {
    const at = `${name("allowedActors")}[${i}]`;
    if (typeof actor !== "object" || actor === null || Array.isArray(actor)) {
      throw new TypeError(`${at} must be { sub, iss? } or { client_id }`);
    }
    checkOptionNames(actor, [ALLOWED_ACTOR_NAMES], where, `${at}.`);
    const { sub, iss, client_id } = actor as Record<string, unknown>;
    const text = (value: unknown) => value === undefined || (typeof value === "string" && value !== "");
    if (!text(sub) || !text(iss) || !text(client_id)) {
      throw new TypeError(`${at}: sub, iss and client_id must be non-empty strings`);
    }
    if ((sub === undefined) === (client_id === undefined) || (iss !== undefined && sub === undefined)) {
      throw new TypeError(`${at} must be { sub, iss? } or { client_id }`);
    }
    const normalized: AllowedActor =
      client_id !== undefined
        ? { client_id: client_id as string }
        : { sub: sub as string, ...(iss !== undefined && { iss: iss as string }) };
    return Object.freeze(normalized);
  });
  return Object.freeze({ mode: mode as DelegationMode, allowed: Object.freeze(allowed) });
}

/**
 * The delegation chain of a token (RFC 8693 §4.1), outermost actor first, or `undefined` without
 * `act`. An `act` that is not an object with a string `sub` (or whose `iss`/`client_id` are not
 * strings, or nested too deep) makes the token malformed (`ERR_JWT_MALFORMED`).
 */
export function actorOf(claims: JWTPayload): Actor | undefined {
  return claims.act === undefined ? undefined : readActor(claims.act, 0);
}

function readActor(act: unknown, depth: number): Actor {
  const malformed = (why: string) => new InvalidTokenError("ERR_JWT_MALFORMED", `token act claim ${why}`);
  if (depth >= MAX_CHAIN) throw malformed(`is nested more than ${MAX_CHAIN} deep`);
  if (typeof act !== "object" || act === null || Array.isArray(act)) throw malformed("is not an object");
  const { sub, iss, client_id, act: previous } = act as Record<string, unknown>;
  if (typeof sub !== "string" || sub === "") throw malformed("has no sub");
  if (iss !== undefined && typeof iss !== "string") throw malformed("has an iss that is not a string");
  if (client_id !== undefined && typeof client_id !== "string") {
    throw malformed("has a client_id that is not a string");
  }
  return Object.freeze({
    sub,
    ...(iss !== undefined && { iss }),
    ...(client_id !== undefined && { client_id }),
    ...(previous !== undefined && { actor: readActor(previous, depth + 1) }),
  });
}

/**
 * The issuer's delegation rule against the token's chain: a refusal is a `ClaimPolicyError` on `act`
 * (403). Only the outermost actor is matched: the inner ones are informational (RFC 8693 §4.1).
 */
export function checkDelegation(policy: DelegationPolicy, actor: Actor | undefined, issuer: string): void {
  if (policy === ALLOW_ANY_DELEGATION) return;
  if (actor === undefined) {
    if (policy.mode === "require") {
      throw new ClaimPolicyError(
        "act",
        "this API accepts only delegated tokens (an act claim, RFC 8693 §4.1)",
      );
    }
    return;
  }
  if (policy.mode === "forbid") {
    throw new ClaimPolicyError("act", "this API does not accept delegated tokens (act claim, RFC 8693 §4.1)");
  }
  if (policy.allowed !== undefined && !policy.allowed.some((allowed) => matches(allowed, actor, issuer))) {
    throw new ClaimPolicyError("act", "the token's actor (act) is not one of allowedActors");
  }
}

function matches(allowed: AllowedActor, actor: Actor, issuer: string): boolean {
  if ("client_id" in allowed) return actor.client_id === allowed.client_id;
  return actor.sub === allowed.sub && (actor.iss ?? issuer) === (allowed.iss ?? issuer);
}
