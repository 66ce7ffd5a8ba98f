import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js";
import { isVerifier } from "../http/config.js";
import { checkOptionNames } from "../lib/option-names.js";
import { createVerifierFor, type Verifier, type VerifierOptions } from "../verify/verifier.js";
import { authInfoOf } from "./auth-info.js";
import {
  checkResource,
  forResource,
  MCP_RESOURCE_OPTION_NAMES,
  type McpResourceOptions,
} from "./resource.js";
import { type McpSdkErrors, mcpSdkErrors } from "./sdk.js";

const WHERE = "mcpTokenVerifier()";

/**
 * A message the SDK can put in `error_description="…"` as it is: it quotes without escaping, and
 * Node refuses a header with other characters.
 */
function headerSafe(message: string): string {
  return message.replace(/["\\]/g, "'").replace(/[^\x20-\x7E]/g, "?");
}

/**
 * m2m-kit's refusal as the SDK's error, by HTTP status (it survives two copies of m2m-kit): 401 →
 * `InvalidTokenError`, 403 → `InsufficientScopeError`, 503 (key set unreachable) → `ServerError`.
 * Anything else is thrown as it is.
 */
function sdkError(sdk: McpSdkErrors, error: unknown): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (!(error instanceof Error) || typeof code !== "string" || !code.startsWith("ERR_")) return error;
  const status = (error as { status?: unknown }).status;
  if (status === 401) return new sdk.InvalidTokenError(headerSafe(error.message));
  if (status === 403) return new sdk.InsufficientScopeError(headerSafe(error.message));
  if (status === 503) return new sdk.ServerError("access tokens cannot be checked right now");
  return error;
}

/**
 * The MCP TypeScript SDK's token verifier (`OAuthTokenVerifier`) for its `requireBearerAuth({ verifier })`:
 * verifies access tokens with m2m-kit and answers the SDK's `AuthInfo` — `token`, `clientId`, `scopes`,
 * `expiresAt` in seconds since the epoch (the SDK's unit), `resource` as a `URL`, and `extra: { claims,
 * tenant, actor }`.
 *
 * The token's audience must be `resource`, the MCP server's URL (RFC 8707; the MCP authorization spec:
 * a server must not accept tokens issued for other resources), also when `verifierOrOptions`
 * accepts more audiences. A token that names no client is refused, and so is a sender-constrained
 * token (`cnf`: DPoP- or certificate-bound), because the SDK's gate checks no proof: use
 * {@link mcpRequireAuth} for those. Refusals are the SDK's own error classes, which
 * `requireBearerAuth` answers 401 (`InvalidTokenError`) and 403 (`InsufficientScopeError`); an
 * unreachable key set is its `ServerError` (500).
 *
 * `@modelcontextprotocol/sdk` (≥ 1.16 < 2) is an optional peer dependency, loaded from your
 * installation when the verifier is created.
 *
 * @param verifierOrOptions - a verifier from `createVerifier`, or verifier options.
 * @param options - `resource`: the MCP server's URL.
 * @throws TypeError at creation for a bad option, or when the verifier accepts URL audiences and
 *   `resource` is not one of them. `verifyAccessToken` rejects with `MissingPeerDependencyError`
 *   (`ERR_MISSING_PEER_DEPENDENCY`) when the SDK is not installed.
 * @example
 * ```ts
 * import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
 * import { mcpTokenVerifier } from "m2m-kit/mcp";
 *
 * const resource = "https://mcp.example.com/mcp";
 * const verifier = mcpTokenVerifier({ issuer: "https://tenant.example.com/", audience: resource }, { resource });
 * app.post("/mcp", requireBearerAuth({ verifier, resourceMetadataUrl: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" }), handler);
 * ```
 */
export function mcpTokenVerifier(
  verifierOrOptions: Verifier | VerifierOptions,
  options: McpResourceOptions,
): OAuthTokenVerifier {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${WHERE} needs { resource } as its second argument: the MCP server's URL`);
  }
  checkOptionNames(options, [MCP_RESOURCE_OPTION_NAMES], `${WHERE} (second argument)`);
  const resource = checkResource(options.resource);
  const base = isVerifier(verifierOrOptions)
    ? verifierOrOptions
    : createVerifierFor(verifierOrOptions as VerifierOptions, WHERE);
  const verifier = forResource(base, resource);
  const sdk = mcpSdkErrors();
  // A missing SDK is reported by verifyAccessToken, not as an unhandled rejection now.
  sdk.catch(() => {});
  return {
    async verifyAccessToken(token: string) {
      const errors = await sdk;
      try {
        return authInfoOf(await verifier.verify(token), token, resource);
      } catch (error) {
        throw sdkError(errors, error);
      }
    },
  };
}
