import type { IssuerConfig } from "./issuers.js";

/**
 * What a verifier accepts, read by the documents that describe the API (RFC 9728 metadata) so that
 * they are built from the configuration that is enforced: `verifier[accepted]()`.
 */
export const accepted: unique symbol = Symbol.for("m2m-kit.verifier.accepted");

/** The answer of {@link accepted}. */
export interface AcceptedTokens {
  /** The issuers whose tokens are accepted; `undefined` when they are not a fixed list. */
  readonly issuers: readonly string[] | undefined;
  /**
   * Every audience accepted from any issuer; `null` when an issuer has the audience check off;
   * `undefined` when they are not known ahead.
   */
  readonly audiences: readonly string[] | null | undefined;
  /** The scopes of the verifier's own `requiredScopes` (all of them, or one of them). */
  readonly requiredScopes: readonly string[];
}

/** The audiences of {@link AcceptedTokens}: `undefined` with a resolver, `null` when one issuer has none. */
export function acceptedAudiences(config: IssuerConfig): readonly string[] | null | undefined {
  if (config.resolver !== undefined) return undefined;
  const audiences = new Set<string>();
  for (const rule of [...config.rules.values(), ...config.templates.map((template) => template.base)]) {
    if (rule.audiences === null) return null;
    for (const audience of rule.audiences) audiences.add(audience);
  }
  return [...audiences];
}
