/**
 * A grant is a request builder (its form parameters, RFC 6749 §4.4.2, RFC 8693 §2.1, RFC 7523 §2.1);
 * every grant's answer is read by the one token response reader (`token-response.ts`), and the client
 * gives each the same cache, single flight, lease, DPoP and telemetry.
 */

/** `grant_type` of the client credentials grant (RFC 6749 §4.4.2). */
export const CLIENT_CREDENTIALS_GRANT_TYPE = "client_credentials";
/** `grant_type` of token exchange (RFC 8693 §2.1). */
export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
/** `grant_type` of the JWT bearer grant (RFC 7523 §2.1). */
export const JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** Form parameters, in order. */
export type FormParameters = ReadonlyArray<readonly [string, string]>;

/** What a grant is told when it builds one attempt's parameters. */
export interface GrantContext {
  /** The attempt's own signal (a source asked for a token stops with it). */
  signal: AbortSignal;
}

/** One grant of one client or one call. */
export interface Grant {
  /** The `grant_type` value. */
  readonly type: string;
  /**
   * What the cache key holds of this grant besides the client's partition (a hash of a call's subject
   * and actor tokens and their types); `""` when nothing.
   */
  readonly keyPart: string;
  /** `grant_type` and the grant's own parameters for one attempt (a source is read here). */
  parameters(context: GrantContext): Promise<FormParameters>;
  /** A token obtained with it is kept no later than this, ms since the epoch (a subject token's `exp`). */
  readonly notAfter: number | undefined;
  /** RFC 8693 §2.2.1: the issued token may be something other than an access token (`token_type: N_A`). */
  readonly acceptsNotApplicable: boolean;
}
