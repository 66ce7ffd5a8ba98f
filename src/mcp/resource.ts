import { InvalidTokenError } from "../errors.js";
import { acceptedBy, resourceProblem } from "../http/resource-metadata.js";
import { knownOptions, type OptionNames } from "../lib/option-names.js";
import { type AcceptedTokens, accepted } from "../verify/accepted.js";
import { VERIFY_CALL_OPTION_NAMES } from "../verify/options.js";
import { type AuthResult, type Verifier, type VerifyCallOptions, verifyNow } from "../verify/verifier.js";

/**
 * The MCP server's resource (RFC 8707, RFC 9728 §2): its URL, checked once, and a verifier that
 * accepts only the tokens issued for it (the MCP authorization spec: a server "MUST NOT accept or
 * transit any other tokens").
 */

/** The option every `m2m-kit/mcp` function takes: the MCP server's resource. */
export interface McpResourceOptions {
  /**
   * The MCP server's URL as its resource identifier (RFC 8707, RFC 9728 §2): the audience its tokens
   * are issued for, compared exactly with the token's `aud`. An `https:` URL without query or
   * fragment (`http:` only on a loopback host, for local development), such as
   * `https://mcp.example.com/mcp`.
   */
  resource: string;
}

/** The names of {@link McpResourceOptions}. */
export const MCP_RESOURCE_OPTION_NAMES: OptionNames<McpResourceOptions> = { resource: true };

/** The `resource` option: a `TypeError` naming it when it is not a resource identifier. */
export function checkResource(value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError("resource must be the MCP server's URL, the audience of its tokens (RFC 8707)");
  }
  const problem = resourceProblem(value);
  if (problem !== undefined) throw new TypeError(`resource ${problem}`);
  return value;
}

const NO_CLIENT = "token names no client (client_id, azp, cid or appid)";

/** RFC 9068 §2.2: `client_id` is required; the SDK's `AuthInfo.clientId` is the client. */
function withClient(auth: AuthResult): AuthResult {
  if (auth.clientId === undefined) throw new InvalidTokenError("ERR_JWT_CLAIM_MISSING", NO_CLIENT);
  return auth;
}

type VerifyNow = (token: string, options?: VerifyCallOptions) => AuthResult | Promise<AuthResult>;

/**
 * `verifier` restricted to tokens for `resource`: every call checks the audience against `resource`
 * alone, whatever audiences `verifier` was created with, and requires a client. A `TypeError` naming
 * `resource` when `verifier` is known to accept URL audiences and `resource` is not one of them (its
 * tokens would be refused: a typo, a trailing slash).
 */
export function forResource(verifier: Verifier, resource: string): Verifier {
  const configured = acceptedBy(verifier);
  const urls = configured.audiences?.filter((audience) => resourceProblem(audience) === undefined) ?? [];
  if (urls.length > 0 && !configured.audiences?.includes(resource)) {
    throw new TypeError(
      `resource ${resource} is not an audience the verifier accepts (${urls.join(", ")}): its tokens would be refused`,
    );
  }
  const only: VerifyCallOptions = Object.freeze({ audience: resource });
  const call = (options: VerifyCallOptions | undefined) =>
    options === undefined
      ? only
      : { ...knownOptions(options, [VERIFY_CALL_OPTION_NAMES]), audience: resource };
  const now = (verifier as { [verifyNow]?: VerifyNow })[verifyNow];
  const scoped: Verifier & { [verifyNow]: VerifyNow; [accepted]: () => AcceptedTokens } = {
    verify: (token, options) => verifier.verify(token, call(options)).then(withClient) as never,
    warmUp: () => verifier.warmUp(),
    get jwks() {
      return verifier.jwks;
    },
    dpop: verifier.dpop,
    [verifyNow]: (token, options) => {
      const outcome = now ? now.call(verifier, token, call(options)) : verifier.verify(token, call(options));
      return outcome instanceof Promise ? outcome.then(withClient) : withClient(outcome);
    },
    [accepted]: () => ({ ...acceptedBy(verifier), audiences: [resource] }),
  };
  return scoped;
}
