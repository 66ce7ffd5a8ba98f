/**
 * `m2m-kit/mcp`: m2m-kit's verifier and client as the MCP TypeScript SDK's token verifier, an Express
 * gate that sets the SDK's `AuthInfo`, and client credentials for the SDK's Streamable HTTP client
 * transport. Types only from the optional peer `@modelcontextprotocol/sdk` (≥ 1.16 < 2); its error
 * classes are loaded from your installation when `mcpTokenVerifier` is first used.

 */
export { MissingPeerDependencyError } from "../errors.js";
export { type McpClientAuthOptions, mcpClientAuth } from "./client-auth.js";
export { type McpRequireAuthOptions, mcpRequireAuth } from "./require-auth.js";
export type { McpResourceOptions } from "./resource.js";
export { mcpTokenVerifier } from "./token-verifier.js";
