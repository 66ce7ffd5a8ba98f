/** The client's `grant` option: a platform token as the grant itself, in place of client credentials. */
import { checkOptionNames, type OptionNames } from "../../lib/option-names.js";
import { type AssertionInput, type ResolvedSource, resolveAssertionInput } from "../../workload/source.js";
import { checkTokenType, type TokenTypeUri } from "./token-exchange.js";

/**
 * A grant in place of client credentials, for authorization servers that take the workload's platform
 * token as the grant itself rather than as client authentication:
 * - `{ type: "token-exchange", subjectToken, subjectTokenType }`: RFC 8693 token exchange of the
 *   source's current token (Google STS, Keycloak token exchange);
 * - `{ type: "jwt-bearer", assertion }`: the RFC 7523 §2.1 JWT bearer grant.
 * The source is read for every token request; the cache key holds a hash of its current token's `iss`,
 * `sub` and `aud`.
 */
export type GrantOption =
  | {
      /** RFC 8693 token exchange. */
      type: "token-exchange";
      /** The platform token: a value, a function or an `AssertionSource` (e.g. `fileAssertion(path)`). */
      subjectToken: AssertionInput;
      /** Its `subject_token_type` (RFC 8693 §3), e.g. `urn:ietf:params:oauth:token-type:jwt`. Required. */
      subjectTokenType: TokenTypeUri;
    }
  | {
      /** RFC 7523 §2.1 JWT bearer grant. */
      type: "jwt-bearer";
      /** The JWT: a value, a function or an `AssertionSource`. */
      assertion: AssertionInput;
    };

/** The names of {@link GrantOption} (each type takes its own, see `checkGrantOption`). */
export const GRANT_OPTION_NAMES: OptionNames<GrantOption> = {
  type: true,
  subjectToken: true,
  subjectTokenType: true,
  assertion: true,
};

const TOKEN_EXCHANGE_NAMES = { type: true, subjectToken: true, subjectTokenType: true } as const;
const JWT_BEARER_NAMES = { type: true, assertion: true } as const;

/** A checked `grant` option. */
export type NormalizedGrant =
  | { type: "token-exchange"; subject: ResolvedSource; subjectTokenType: string }
  | { type: "jwt-bearer"; assertion: ResolvedSource };

/** Checks the `grant` option at creation: every problem is a `TypeError` naming `grant.<name>`. */
export function checkGrantOption(value: unknown, where: string): NormalizedGrant | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      'grant must be { type: "token-exchange", subjectToken, subjectTokenType } or { type: "jwt-bearer", assertion }',
    );
  }
  checkOptionNames(value, [GRANT_OPTION_NAMES], where, "grant.");
  const grant = value as Record<string, unknown>;
  if (grant.type === "token-exchange") {
    checkOptionNames(value, [TOKEN_EXCHANGE_NAMES], `a token-exchange grant (${where})`, "grant.");
    const subjectTokenType = checkTokenType(grant.subjectTokenType, "grant.subjectTokenType");
    if (subjectTokenType === undefined) {
      throw new TypeError(
        "grant.subjectTokenType is required (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt for a platform token",
      );
    }
    return {
      type: "token-exchange",
      subject: resolveAssertionInput(grant.subjectToken, "grant.subjectToken"),
      subjectTokenType,
    };
  }
  if (grant.type === "jwt-bearer") {
    checkOptionNames(value, [JWT_BEARER_NAMES], `a jwt-bearer grant (${where})`, "grant.");
    return { type: "jwt-bearer", assertion: resolveAssertionInput(grant.assertion, "grant.assertion") };
  }
  throw new TypeError('grant.type must be "token-exchange" or "jwt-bearer"');
}
