/**
 * Zitadel's roles: a token requested with `urn:zitadel:iam:org:projects:roles` carries, for each
 * project of its audience, `urn:zitadel:iam:org:project:{projectId}:roles`, an object whose keys are
 * the role names (Zitadel, "Claims" reference). The preset reads the roles of the API's own project
 * (its audience) as scopes, never those of another project in the same token.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, createVerifier } from "../../src/index.js";
import { type ShapedProvider, startShapedProvider } from "../support/shaped-provider.js";

const PROJECT = "312909075212468632";
const OTHER_PROJECT = "298716504938921107";
const PROJECT_ROLES = `urn:zitadel:iam:org:project:${PROJECT}:roles`;
/** The service user's role grants, per project, as Zitadel asserts them: role → { org id: org domain }. */
const GRANTS: Record<string, Record<string, Record<string, string>>> = {
  [PROJECT]: {
    "orders.read": { "2339100": "acme.zitadel.cloud" },
    "orders.write": { "2339100": "acme.zitadel.cloud" },
  },
  [OTHER_PROJECT]: { admin: { "2339100": "acme.zitadel.cloud" } },
};
const AUD = /^urn:zitadel:iam:org:project:id:(.+):aud$/;

let zitadel: ShapedProvider;

beforeAll(async () => {
  zitadel = await startShapedProvider({
    issuerPath: "",
    reads: "zitadel",
    api: { identifier: "https://zitadel-project.invalid", scopes: [] },
    client: { clientId: "orders-job", clientSecret: "orders-job-secret", authMethod: "client_secret_basic" },
    shape: (payload, _header, request) => {
      const asked = (request.get("scope") ?? "").split(" ");
      const projects = asked.flatMap((scope) => AUD.exec(scope)?.[1] ?? []);
      payload.aud = [...projects, payload.client_id];
      // Roles are asserted per project of the audience only when asked for.
      if (asked.includes("urn:zitadel:iam:org:projects:roles")) {
        for (const project of projects) {
          if (GRANTS[project]) payload[`urn:zitadel:iam:org:project:${project}:roles`] = GRANTS[project];
        }
      }
      delete payload.scope;
    },
  });
});
afterAll(async () => {
  await zitadel?.close();
});

async function tokenFor(scope: string): Promise<string> {
  const client = new ClientCredentialsClient({
    provider: "zitadel",
    issuer: zitadel.issuer,
    clientId: "orders-job",
    clientSecret: "orders-job-secret",
  });
  try {
    return (await client.getToken({ audience: PROJECT, scope })).accessToken;
  } finally {
    await client.close();
  }
}

const verifier = () => createVerifier({ provider: "zitadel", issuer: zitadel.issuer, audience: PROJECT });

describe("zitadel preset: roles of the API's project", () => {
  it("reads the keys of urn:zitadel:iam:org:project:{audience}:roles as scopes", async () => {
    const token = await tokenFor("urn:zitadel:iam:org:projects:roles");
    expect(decodeJwt(token)[PROJECT_ROLES]).toEqual(GRANTS[PROJECT]);
    const auth = await verifier().verify(token, { requiredScopes: ["orders.read"] });
    expect([...auth.scopes].sort()).toEqual(["orders.read", "orders.write"]);
    expect(auth.clientId).toBe("orders-job");
  });

  it("never counts the roles of another project of the same token", async () => {
    const token = await tokenFor(
      `urn:zitadel:iam:org:projects:roles urn:zitadel:iam:org:project:id:${OTHER_PROJECT}:aud`,
    );
    expect(decodeJwt(token)[`urn:zitadel:iam:org:project:${OTHER_PROJECT}:roles`]).toEqual(
      GRANTS[OTHER_PROJECT],
    );
    const auth = await verifier().verify(token);
    expect([...auth.scopes].sort()).toEqual(["orders.read", "orders.write"]);
    const error = await verifier()
      .verify(token, { requiredScopes: ["admin"] })
      .catch((e) => e);
    expect(error).toMatchObject({
      code: "ERR_INSUFFICIENT_SCOPE",
      grantedScopes: ["orders.read", "orders.write"],
    });
  });

  it("a scopeClaim of the verifier's own replaces the preset's claims", async () => {
    const token = await tokenFor("urn:zitadel:iam:org:projects:roles");
    const own = createVerifier({
      provider: "zitadel",
      issuer: zitadel.issuer,
      audience: PROJECT,
      scopeClaim: "scope",
    });
    expect((await own.verify(token)).scopes).toEqual([]);
  });
});
