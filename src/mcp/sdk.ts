import type * as SdkErrors from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { MissingPeerDependencyError } from "../errors.js";

/**
 * The MCP TypeScript SDK's OAuth error classes, from the user's own installation of the optional peer
 * `@modelcontextprotocol/sdk`, loaded on first use. The SDK's `requireBearerAuth` recognises them by
 * identity (`instanceof`), so they must be its classes, never copies: the ESM build imports the SDK's
 * ESM build, the CommonJS build requires its CommonJS build (the bundler turns this `import()` into
 * `require()` there), as the user's own code does.
 */
export type McpSdkErrors = typeof SdkErrors;

let loading: Promise<McpSdkErrors> | undefined;

/** The SDK's error classes; rejects with {@link MissingPeerDependencyError} when it is not installed. */
export function mcpSdkErrors(): Promise<McpSdkErrors> {
  loading ??= import("@modelcontextprotocol/sdk/server/auth/errors.js").catch((cause: unknown) => {
    throw new MissingPeerDependencyError("@modelcontextprotocol/sdk", "m2m-kit/mcp", { cause });
  });
  return loading;
}
