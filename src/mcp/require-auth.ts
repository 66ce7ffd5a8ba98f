import type { BearerAuthMiddlewareOptions } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { type ExpressAuthOptions, requireAuth } from "../express/index.js";
import { CERTIFICATE_BINDING_OPTION_NAMES } from "../http/certificate-binding.js";
import { type AdapterNames, type AuthConfig, HTTP_AUTH_OPTION_NAMES, resolveConfig } from "../http/config.js";
import type { AuthResult } from "../verify/verifier.js";
import { authInfoOf } from "./auth-info.js";
import { checkResource, forResource, type McpResourceOptions } from "./resource.js";

/**
 * The MCP SDK's `AuthInfo`, named through the SDK's `requireBearerAuth` module: that module declares
 * Express's `req.auth` as `AuthInfo`, and a program that imports `m2m-kit/mcp` gets that declaration
 * too, so that `req.auth` is typed as what `mcpRequireAuth` sets and the SDK's transport takes.
 */
type SdkAuthInfo = Awaited<ReturnType<BearerAuthMiddlewareOptions["verifier"]["verifyAccessToken"]>>;

declare global {
  namespace Express {
    interface M2MKitAuth {
      /** Set by `mcpRequireAuth` (`m2m-kit/mcp`) and the SDK's `requireBearerAuth`: the SDK's `AuthInfo`. */
      mcp: SdkAuthInfo;
    }
  }
}

/**
 * Options of {@link mcpRequireAuth}: what `requireAuth` takes (verifier options or `{ verifier }`,
 * and the adapter options), plus `resource`, the MCP server's URL.
 */
export type McpRequireAuthOptions = AuthConfig & McpResourceOptions & Pick<ExpressAuthOptions, "passErrors">;

const MCP_REQUIRE_AUTH: AdapterNames = {
  call: "mcpRequireAuth()",
  options: "mcpRequireAuth()",
  names: [{ passErrors: true, resource: true }],
};

/** The names `requireAuth` takes as adapter options. */
const ADAPTER_NAMES = [
  ...Object.keys(HTTP_AUTH_OPTION_NAMES),
  ...Object.keys(CERTIFICATE_BINDING_OPTION_NAMES),
  "passErrors",
];

/** The credential of an `Authorization: Bearer …` or `DPoP …` header that was accepted. */
function credentialOf(req: Request): string {
  const header = req.headers.authorization as string;
  return header.slice(header.indexOf(" ") + 1).replace(/^ +/, "");
}

/**
 * m2m-kit's own gate for an MCP server on Express, for more than the SDK's Bearer-only
 * `requireBearerAuth`: every check of `requireAuth` (DPoP with `dpop` and `publicUrl`, certificate-bound
 * tokens, scopes, claim policies, tenants, delegation), the token's audience equal to `resource`
 * (RFC 8707; the MCP authorization spec), and RFC 9728 resource metadata: the gate answers
 * `GET /.well-known/oauth-protected-resource…` for `resource` and names it in every challenge
 * (`resourceMetadata` adds `scopesSupported`, `resourceName`, …). It sets `req.auth` to the MCP SDK's
 * `AuthInfo` (`expiresAt` in seconds, `extra: { claims, tenant, actor }`), which the SDK's
 * `StreamableHTTPServerTransport` hands to tool handlers as `extra.authInfo`. `requireScopes` of
 * `m2m-kit/express` works after it. The token must come in the `Authorization` header (the MCP
 * authorization spec): `allowQueryToken` and `allowBodyToken` are refused.
 *
 * In a project that imports `m2m-kit/mcp`, `req.auth` is typed as the SDK's `AuthInfo`, as the
 * SDK's `requireBearerAuth` module declares it: on routes behind `requireAuth` (an `AuthResult`),
 * use `authenticated()` of `m2m-kit/express` for typed claims.
 *
 * @throws TypeError at creation for a bad option (naming it), a `resourceMetadata.resource` other than
 *   `resource`, or a verifier that accepts URL audiences of which `resource` is not one.
 * @example
 * ```ts
 * const resource = "https://mcp.example.com/mcp";
 * app.use(mcpRequireAuth({ issuer: "https://tenant.example.com/", audience: resource, resource, requiredScopes: ["tools:call"] }));
 * app.post("/mcp", (req, res) => transport.handleRequest(req, res, req.body));
 * ```
 */
export function mcpRequireAuth(options: McpRequireAuthOptions): RequestHandler {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("mcpRequireAuth() options must be an object ({ issuer, audience, resource, … })");
  }
  for (const name of ["allowQueryToken", "allowBodyToken"] as const) {
    if (options[name]) {
      throw new TypeError(
        `${name} is not allowed for an MCP server: MCP clients send the token in the Authorization header`,
      );
    }
  }
  // Names first: a misspelt resource is named as such, not reported missing.
  const { verifier, settings } = resolveConfig(options, {}, MCP_REQUIRE_AUTH);
  const resource = checkResource(options.resource);
  const metadata = settings.resourceMetadata;
  if (metadata?.resource !== undefined && metadata.resource !== resource) {
    throw new TypeError(`resourceMetadata.resource must be left out or equal resource (${resource})`);
  }
  const adapterOptions: Record<string, unknown> = {};
  for (const name of ADAPTER_NAMES) {
    const value = (settings as Record<string, unknown>)[name];
    if (value !== undefined) adapterOptions[name] = value;
  }
  adapterOptions.resourceMetadata = { ...metadata, resource };
  const gate = requireAuth(forResource(verifier, resource), adapterOptions as ExpressAuthOptions);
  return function m2mMcpRequireAuth(req: Request, res: Response, next: NextFunction): void {
    gate(req, res, (error?: unknown) => {
      if (error !== undefined) {
        next(error);
        return;
      }
      // Set by requireAuth (an AuthResult), whatever type the program declares for req.auth.
      const holder = req as { auth?: unknown };
      if (holder.auth !== undefined) {
        holder.auth = authInfoOf(holder.auth as AuthResult, credentialOf(req), resource);
      }
      next();
    });
  };
}
