/**
 * What an OAuth error usually means on the client's side, for the errors whose cause is most often the
 * request itself: the hint the `OAuthError` message ends with.
 */
import { CLIENT_CREDENTIALS_GRANT_TYPE, JWT_BEARER_GRANT_TYPE, TOKEN_EXCHANGE_GRANT_TYPE } from "./grant.js";

export interface HintContext {
  /** The request's `grant_type`. */
  grantType: string;
  /** The audience of the call, if any. */
  audience: string | undefined;
  /** The client assertion's source, when the client authenticates with one. */
  assertionSource: string | undefined;
}

export function oauthHint(error: string, context: HintContext): string | undefined {
  const { grantType, audience } = context;
  switch (error) {
    // RFC 8693 §2.2.2 answers an unusable subject or actor token with invalid_request.
    case "invalid_request":
      return grantType === TOKEN_EXCHANGE_GRANT_TYPE
        ? "check the subject_token and actor_token: not expired, of the token types sent, and issued by an issuer the server trusts for token exchange by this client"
        : undefined;
    case "invalid_grant":
      if (grantType === TOKEN_EXCHANGE_GRANT_TYPE) {
        return "check the subject_token and actor_token: not expired, of the token types sent, and issued by an issuer the server trusts for token exchange by this client";
      }
      if (grantType === JWT_BEARER_GRANT_TYPE) {
        return "check the assertion: not expired, and its iss, sub and aud as the server's trust for this client names them";
      }
      return undefined;
    case "unauthorized_client":
      return `check that this client is allowed the grant_type ${grantType} (its grant types, in the server's console)`;
    case "unsupported_grant_type":
      return grantType === CLIENT_CREDENTIALS_GRANT_TYPE
        ? "check that the client credentials grant is enabled for this application (an M2M application)"
        : `check that the server supports grant_type ${grantType} and allows it for this client`;
    case "invalid_target":
      return audience === undefined
        ? "check the audience or resource the request names: the server does not know it, or this client may not get tokens for it"
        : `check the audience ${audience}: the server does not know it, or this client may not get tokens for it`;
    case "invalid_client":
      return context.assertionSource === undefined
        ? undefined
        : `check that the server trusts the client assertion from ${context.assertionSource} for this client: its iss, sub and aud must match the federated credential`;
    default:
      return undefined;
  }
}
