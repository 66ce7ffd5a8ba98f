/**
 * RFC 9728 metadata of an API whose issuers are not a fixed list (an issuer template or a resolver):
 * `authorization_servers` cannot be derived, so it must be given, and what is given is served.
 */
import { describe, expect, it } from "vitest";
import { createVerifier } from "../../src/index.js";
import { protectedResourceMetadata } from "../../src/web/index.js";

const RESOURCE = "https://api.example.com";
const TEMPLATE = "https://login.example.com/{tenant}/v2.0";

async function documentOf(
  handler: (request: Request) => Response | undefined | Promise<Response | undefined>,
) {
  const response = await handler(new Request(`${RESOURCE}/.well-known/oauth-protected-resource`));
  return (await response?.json()) as Record<string, unknown>;
}

describe("resource metadata with tenants", () => {
  it("a template without resourceMetadata.authorizationServers is a TypeError naming it", () => {
    const verifier = createVerifier({ issuer: TEMPLATE, tenants: ["contoso"], audience: RESOURCE });
    expect(() => protectedResourceMetadata(verifier)).toThrow(
      /resourceMetadata\.authorizationServers is required/,
    );
    const resolved = createVerifier({ issuers: () => undefined });
    expect(() => protectedResourceMetadata(resolved, { resourceMetadata: { resource: RESOURCE } })).toThrow(
      /authorizationServers is required/,
    );
  });

  it("a fixed list stays derived from the configuration", async () => {
    const verifier = createVerifier({ issuer: "https://login.example.com/contoso/v2.0", audience: RESOURCE });
    expect((await documentOf(protectedResourceMetadata(verifier))).authorization_servers).toEqual([
      "https://login.example.com/contoso/v2.0",
    ]);
  });

  it("with a template, the given authorization servers are served", async () => {
    const verifier = createVerifier({ issuer: TEMPLATE, tenants: "any", audience: RESOURCE });
    const handler = protectedResourceMetadata(verifier, {
      resourceMetadata: { authorizationServers: ["https://login.example.com/organizations/v2.0"] },
    });
    const document = await documentOf(handler);
    expect(document.resource).toBe(RESOURCE);
    expect(document.authorization_servers).toEqual(["https://login.example.com/organizations/v2.0"]);
  });
});
