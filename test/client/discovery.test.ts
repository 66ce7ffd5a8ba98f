import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent, DiscoveryError } from "../../src/index.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

let as: RunningProvider;
let server: FaultServer;
beforeAll(async () => {
  as = await startProvider();
  server = await startFaultServer();
});
afterAll(async () => {
  await as.close();
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

function metadata(issuer: string, extra: Record<string, unknown> = {}) {
  return { status: 200, json: { issuer, token_endpoint: `${server.url}/oauth/token`, ...extra } };
}

describe("discovery", () => {
  it("finds the token endpoint through OpenID Connect discovery, once", async () => {
    const events: ClientEvent[] = [];
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      onEvent: (e) => events.push(e),
    });
    await client.getToken({ audience: "https://api.example.com" });
    await client.getToken({ audience: "https://billing.example.com" });
    const discoveries = events.filter((e) => e.type === "discovery");
    expect(discoveries).toHaveLength(1);
    expect(discoveries[0]).toMatchObject({ tokenEndpoint: as.tokenEndpoint });
    expect(client.toJSON().tokenEndpoint).toBe(as.tokenEndpoint);
  });

  it("falls back to RFC 8414 metadata, path inserted after the host", async () => {
    const issuer = `${server.url}/tenant-a`;
    server.route("/tenant-a/.well-known/openid-configuration", { status: 404, body: "no" });
    server.route("/.well-known/oauth-authorization-server/tenant-a", metadata(issuer));
    server.script(tokenReply({ access_token: "via-8414" }));
    const client = new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s" });
    expect((await client.getToken()).accessToken).toBe("via-8414");
    expect(server.requests.map((r) => r.url)).toEqual([
      "/tenant-a/.well-known/openid-configuration",
      "/.well-known/oauth-authorization-server/tenant-a",
      "/oauth/token",
    ]);
  });

  it("rejects metadata whose issuer differs from the configured one (even by a slash)", async () => {
    const issuer = `${server.url}/tenant-b`;
    server.route("/tenant-b/.well-known/openid-configuration", metadata(`${issuer}/`));
    const client = new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s" });
    const error = await client.getToken().catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error.code).toBe("ERR_DISCOVERY");
    expect(error.message).toContain("must match it exactly");
    expect(server.requests.some((r) => r.url === "/oauth/token")).toBe(false);
  });

  it("rejects a non-loopback http: token endpoint in the metadata", async () => {
    const issuer = `${server.url}/tenant-c`;
    server.route(
      "/tenant-c/.well-known/openid-configuration",
      metadata(issuer, { token_endpoint: "http://auth.example.com/token" }),
    );
    const error = await new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s" })
      .getToken()
      .catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
  });

  it("a failed discovery is not cached: the next call tries again and succeeds", async () => {
    const issuer = `${server.url}/tenant-d`;
    server.route(
      "/tenant-d/.well-known/openid-configuration",
      { status: 503, body: "down" },
      metadata(issuer),
    );
    server.route("/.well-known/oauth-authorization-server/tenant-d", { status: 503, body: "down" });
    server.script(tokenReply({ access_token: "after-outage" }));
    const client = new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s", retry: false });
    const error = await client.getToken().catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error.transient).toBe(true);
    expect((await client.getToken()).accessToken).toBe("after-outage");
  });

  it("metadata that is not JSON is a DiscoveryError", async () => {
    const issuer = `${server.url}/tenant-e`;
    server.route("/tenant-e/.well-known/openid-configuration", { status: 200, body: "<html></html>" });
    await expect(
      new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s" }).getToken(),
    ).rejects.toBeInstanceOf(DiscoveryError);
  });

  it("uses client_secret_post when discovery lists only that", async () => {
    const issuer = `${server.url}/tenant-f`;
    server.route(
      "/tenant-f/.well-known/openid-configuration",
      metadata(issuer, { token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"] }),
    );
    server.script(tokenReply());
    await new ClientCredentialsClient({ issuer, clientId: "c", clientSecret: "s" }).getToken();
    const tokenRequest = server.requests.find((r) => r.url === "/oauth/token");
    expect(tokenRequest?.headers.authorization).toBeUndefined();
    expect(new URLSearchParams(tokenRequest?.body).get("client_secret")).toBe("s");
  });
});
