/**
 * RFC 8693 token exchange: the request builder (§2.1) for a call's subject and actor tokens
 * (`client.exchangeToken`) and for a client whose grant is a platform token (`grant: { type:
 * "token-exchange" }`).
 */
import { checkExpiry, type ReadAssertion, readAssertion } from "../../workload/assertion.js";
import type { AssertionCredential } from "../assertion-credential.js";
import { type FormParameters, type Grant, TOKEN_EXCHANGE_GRANT_TYPE } from "./grant.js";

/**
 * A token type identifier (RFC 8693 §3): `urn:ietf:params:oauth:token-type:access_token`,
 * `…:refresh_token`, `…:id_token`, `…:jwt`, `…:saml1`, `…:saml2`, or another absolute URI the
 * authorization server defines.
 */
export type TokenTypeUri =
  | "urn:ietf:params:oauth:token-type:access_token"
  | "urn:ietf:params:oauth:token-type:refresh_token"
  | "urn:ietf:params:oauth:token-type:id_token"
  | "urn:ietf:params:oauth:token-type:jwt"
  | "urn:ietf:params:oauth:token-type:saml1"
  | "urn:ietf:params:oauth:token-type:saml2"
  | (string & {});

/** RFC 8693 §3: the default `subject_token_type` of `exchangeToken`. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** The tokens of one exchange (RFC 8693 §2.1), as `client.exchangeToken` takes them. */
export interface TokenExchangeTokens {
  /**
   * The token that represents the party on whose behalf the request is made (`subject_token`): the
   * access token your API received, an ID token, a platform token. Required. A cached result never
   * outlives its `exp` (for an opaque token, only the answer's `expires_in` counts); an expired one is
   * a `ClientAssertionError` and no request.
   */
  subjectToken: string;
  /** `subject_token_type`. Default `urn:ietf:params:oauth:token-type:access_token`. */
  subjectTokenType?: TokenTypeUri;
  /**
   * The token of the acting party (`actor_token`), for delegation (the issued token's `act` claim). A
   * cached result never outlives its `exp` either; an expired one is a `ClientAssertionError` and no
   * request.
   */
  actorToken?: string;
  /** `actor_token_type`; required with `actorToken` (a `TypeError` without it). */
  actorTokenType?: TokenTypeUri;
  /** `requested_token_type`: the kind of token wanted. Default: the server's choice (an access token). */
  requestedTokenType?: TokenTypeUri;
}

/** The names of {@link TokenExchangeTokens}. */
export const TOKEN_EXCHANGE_TOKEN_NAMES = {
  subjectToken: true,
  subjectTokenType: true,
  actorToken: true,
  actorTokenType: true,
  requestedTokenType: true,
} as const satisfies Record<keyof TokenExchangeTokens, true>;

/** An absolute URI without spaces: what a token type identifier is. */
const TOKEN_TYPE = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;

/** Checks a token type option (`TypeError` naming it). */
export function checkTokenType(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !TOKEN_TYPE.test(value)) {
    throw new TypeError(
      `${option} must be a token type URI (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt`,
    );
  }
  return value;
}

function checkToken(value: unknown, option: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${option} must be a non-empty string`);
  return value;
}

/** RFC 8693 §2.1, in the order the section lists them. */
function exchangeParameters(
  subject: string,
  subjectTokenType: string,
  actor: { value: string; type: string } | undefined,
  requestedTokenType: string | undefined,
): FormParameters {
  const params: Array<[string, string]> = [
    ["grant_type", TOKEN_EXCHANGE_GRANT_TYPE],
    ["subject_token", subject],
    ["subject_token_type", subjectTokenType],
  ];
  if (actor) params.push(["actor_token", actor.value], ["actor_token_type", actor.type]);
  if (requestedTokenType !== undefined) params.push(["requested_token_type", requestedTokenType]);
  return params;
}

/** The earlier of two expiry times; `undefined` for one not known. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/**
 * The grant of one `exchangeToken` call. Its cache key part holds a hash of the subject and actor
 * tokens (and every type named); a subject or actor token that has expired by the time of a request is
 * a `ClientAssertionError` and no request is sent, and a token obtained with them is kept no later
 * than the earlier of their `exp`.
 *
 * @throws TypeError for a missing or malformed option, `actorToken` without `actorTokenType` and the
 *   other way round; `ClientAssertionError` for a token with spaces or control characters.
 */
export async function exchangeGrant(tokens: TokenExchangeTokens, now: () => number): Promise<Grant> {
  const subjectToken = checkToken(tokens.subjectToken, "subjectToken");
  const subjectTokenType = checkTokenType(tokens.subjectTokenType, "subjectTokenType") ?? ACCESS_TOKEN_TYPE;
  const requestedTokenType = checkTokenType(tokens.requestedTokenType, "requestedTokenType");
  const actorTokenType = checkTokenType(tokens.actorTokenType, "actorTokenType");
  if (tokens.actorToken !== undefined) checkToken(tokens.actorToken, "actorToken");
  if (tokens.actorToken !== undefined && actorTokenType === undefined) {
    throw new TypeError("actorTokenType is required with actorToken (RFC 8693 §2.1)");
  }
  if (tokens.actorToken === undefined && actorTokenType !== undefined) {
    throw new TypeError("actorTokenType needs actorToken");
  }
  const read = (value: string, parameter: "subject_token" | "actor_token") =>
    readAssertion(value, { parameter, source: undefined, jwt: false, identity: "value" });
  const subject = await read(subjectToken, "subject_token");
  const actor = tokens.actorToken === undefined ? undefined : await read(tokens.actorToken, "actor_token");
  const unexpired = (token: ReadAssertion, parameter: "subject_token" | "actor_token") =>
    checkExpiry(token, { parameter, source: undefined, now: now(), minRemainingMs: 0 });
  const parameters = exchangeParameters(
    subject.value,
    subjectTokenType,
    actor && actorTokenType !== undefined ? { value: actor.value, type: actorTokenType } : undefined,
    requestedTokenType,
  );
  return {
    type: TOKEN_EXCHANGE_GRANT_TYPE,
    keyPart: JSON.stringify([
      subjectTokenType,
      subject.identity,
      actorTokenType ?? null,
      actor?.identity ?? null,
      requestedTokenType ?? null,
    ]),
    async parameters() {
      unexpired(subject, "subject_token");
      if (actor) unexpired(actor, "actor_token");
      return parameters;
    },
    // Delegation ends with either token: the actor's expiry bounds the result too.
    notAfter: earliest(subject.expiresAt, actor?.expiresAt),
    acceptsNotApplicable: true,
  };
}

/**
 * The grant of a client whose credential is a platform token exchanged for an access token (Google
 * STS, Keycloak token exchange): the current token of the source on every request. Its identity is in
 * the client's cache partition.
 */
export function sourceExchangeGrant(subject: AssertionCredential, subjectTokenType: string): Grant {
  return {
    type: TOKEN_EXCHANGE_GRANT_TYPE,
    keyPart: "",
    async parameters({ signal }) {
      const { value } = await subject.take(signal);
      return exchangeParameters(value, subjectTokenType, undefined, undefined);
    },
    notAfter: undefined,
    acceptsNotApplicable: false,
  };
}
