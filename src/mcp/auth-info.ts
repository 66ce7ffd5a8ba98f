import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { AuthResult } from "../verify/verifier.js";

/**
 * The SDK's `AuthInfo` of a verified token. `expiresAt` is in seconds since the epoch (the SDK's
 * unit); `resource` is the MCP server's resource, which the token's audience was checked against;
 * `extra` carries the verified claims, the tenant and the delegation chain.
 */
export function authInfoOf(auth: AuthResult, token: string, resource: string): AuthInfo {
  return {
    token,
    clientId: auth.clientId as string,
    scopes: [...auth.scopes],
    expiresAt: Math.floor(auth.expiresAt / 1000),
    resource: new URL(resource),
    extra: { claims: auth.claims, tenant: auth.tenant, actor: auth.actor },
  };
}
