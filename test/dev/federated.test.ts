/**
 * Dev-server apps with federated credentials: a workload authenticates with the token its platform
 * gave it (a Kubernetes service-account token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID) instead
 * of a secret. The platform is m2m-kit/testing's issuer over its real JWKS endpoint; requests are raw
 * form POSTs, as the workload's own code would send them.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DevConfig,
  DevConfigError,
  type DevServer,
  startDevServer,
  validateDevConfig,
} from "../../src/dev-server/index.js";
import { createVerifier } from "../../src/index.js";
import {
  createGitHubActionsTokenServer,
  createTestIssuer,
  type GitHubActionsTokenServer,
  type TestIssuer,
} from "../../src/testing/index.js";

const ORDERS = "https://orders.example.com";
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_SPIFFE = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
const ENTRA_AUDIENCE = "api://AzureADTokenExchange";
const WORKER = "system:serviceaccount:orders:worker";
const SPIFFE_ID = "spiffe://example.org/ns/orders/sa/reporter";

let cluster: TestIssuer;
let github: TestIssuer;
let mesh: TestIssuer;
let bundle: Server;
let bundleUrl: string;
let actions: GitHubActionsTokenServer;
let dev: DevServer;
let ownKey: CryptoKeyPair;

/** A SPIFFE bundle endpoint: the mesh issuer's keys marked for JWT-SVIDs, next to an X.509 root. */
async function startBundleEndpoint(issuer: TestIssuer): Promise<Server> {
  const server = createServer(async (_req, res) => {
    const { keys } = (await (await fetch(issuer.jwksUri)).json()) as { keys: Array<Record<string, unknown>> };
    const x509 = await exportJWK((await generateKeyPair("ES256", { extractable: true })).publicKey);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        spiffe_sequence: 1,
        keys: [{ ...x509, use: "x509-svid", x5c: [] }, ...keys.map((key) => ({ ...key, use: "jwt-svid" }))],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(dev.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

/** A client credentials request of `clientId` authenticated with a platform token. */
function withAssertion(assertion: string, clientId: string | null = "worker", type = JWT_BEARER) {
  return token({
    grant_type: "client_credentials",
    ...(clientId === null ? {} : { client_id: clientId }),
    client_assertion_type: type,
    client_assertion: assertion,
    resource: ORDERS,
  });
}

beforeAll(async () => {
  cluster = await createTestIssuer();
  github = await createTestIssuer();
  mesh = await createTestIssuer({ algorithm: "ES256" });
  bundle = await startBundleEndpoint(mesh);
  bundleUrl = `http://127.0.0.1:${(bundle.address() as AddressInfo).port}/bundle.json`;
  actions = await createGitHubActionsTokenServer(github, { repository: "octo-org/deployer" });
  ownKey = await generateKeyPair("ES256", { extractable: true });
  const config: DevConfig = {
    apis: [{ identifier: ORDERS, scopes: ["read:orders", "write:orders"] }],
    apps: [
      {
        clientId: "worker",
        federated: [{ issuer: cluster.issuer, subject: WORKER, audience: ENTRA_AUDIENCE }],
        grants: { [ORDERS]: ["read:orders"] },
      },
      {
        clientId: "deployer",
        // No audience: the dev server's issuer identifier (draft-ietf-oauth-rfc7523bis).
        federated: [{ issuer: github.issuer, subject: "repo:octo-org/deployer:ref:refs/heads/main" }],
        jwks: { keys: [{ ...(await exportJWK(ownKey.publicKey)), kid: "own", alg: "ES256" }] },
        grants: { [ORDERS]: ["read:orders", "write:orders"] },
      },
      {
        clientId: "reporter",
        federated: [{ issuer: "spiffe://example.org", subject: SPIFFE_ID, jwksUri: bundleUrl }],
        grants: { [ORDERS]: ["read:orders"] },
      },
      { clientId: "plain", clientSecret: "plain-secret", grants: { [ORDERS]: ["read:orders"] } },
    ],
  };
  dev = await startDevServer({ config });
});

afterAll(async () => {
  await dev?.close();
  await actions?.close();
  await new Promise((resolve) => bundle?.close(resolve));
  await Promise.all([cluster?.close(), github?.close(), mesh?.close()]);
});

describe("a Kubernetes service-account token as client authentication (Entra's federated credentials)", () => {
  it("is accepted: the app gets its token, and the same platform token works again within its lifetime", async () => {
    const assertion = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: ENTRA_AUDIENCE,
    });
    const first = await withAssertion(assertion);
    expect(first.status).toBe(200);
    const verifier = createVerifier({ issuer: dev.issuer, audience: ORDERS });
    const claims = await verifier.verify(first.body.access_token as string);
    expect(claims.clientId).toBe("worker");
    expect(claims.scopes).toEqual(["read:orders"]);
    // The kubelet rewrites the file only now and then: every pod request reads the same token.
    const again = await withAssertion(assertion);
    expect(again.status).toBe(200);
    expect(decodeJwt(again.body.access_token as string).client_id).toBe("worker");
  });

  it.each([
    [
      "wrong subject",
      () =>
        cluster.mintKubernetesToken({
          namespace: "orders",
          serviceAccount: "intruder",
          audience: ENTRA_AUDIENCE,
        }),
      `wrong subject: the client_assertion's subject "system:serviceaccount:orders:intruder" matches no federated credential of the app "worker" for issuer "${"ISSUER"}" (expected "${WORKER}")`,
    ],
    [
      "wrong audience",
      () =>
        cluster.mintKubernetesToken({
          namespace: "orders",
          serviceAccount: "worker",
          audience: "https://kubernetes.default.svc",
        }),
      `wrong audience: the client_assertion's audience ["https://kubernetes.default.svc"] does not hold "${ENTRA_AUDIENCE}"`,
    ],
    [
      "wrong key",
      () =>
        cluster.mintKubernetesToken({
          namespace: "orders",
          serviceAccount: "worker",
          audience: ENTRA_AUDIENCE,
          forged: true,
        }),
      `wrong key: the client_assertion's signature does not verify with the keys of issuer "ISSUER" (ISSUER/jwks)`,
    ],
    [
      "expired",
      () =>
        cluster.mintKubernetesToken({
          namespace: "orders",
          serviceAccount: "worker",
          audience: ENTRA_AUDIENCE,
          expiresInSeconds: -60,
        }),
      "expired: the client_assertion expired at ",
    ],
    [
      "unknown issuer",
      () =>
        github.mintKubernetesToken({
          namespace: "orders",
          serviceAccount: "worker",
          audience: ENTRA_AUDIENCE,
        }),
      `unknown issuer: the client_assertion's issuer "GITHUB" is not a federated issuer of the app "worker"`,
    ],
  ])("%s → invalid_client saying which check failed, without the token", async (_name, mint, description) => {
    const assertion = await mint();
    const { status, body } = await withAssertion(assertion);
    expect(status).toBe(401);
    expect(body.error).toBe("invalid_client");
    expect(body.error_description).toContain(
      description.replaceAll("ISSUER", cluster.issuer).replaceAll("GITHUB", github.issuer),
    );
    expect(JSON.stringify(body)).not.toContain(assertion.split(".")[1]);
    expect(body).not.toHaveProperty("access_token");
  });

  it("an issuer that differs only by a trailing slash is named as such", async () => {
    const assertion = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: ENTRA_AUDIENCE,
      claims: { iss: `${cluster.issuer}/` },
    });
    const { body } = await withAssertion(assertion);
    expect(body.error_description).toBe(
      `unknown issuer: the client_assertion's issuer "${cluster.issuer}/" is not a federated issuer of the app "worker" (a credential names "${cluster.issuer}", which differs only by a trailing slash)`,
    );
  });

  it("client_id is required with a federated assertion, as Entra requires it", async () => {
    const assertion = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: ENTRA_AUDIENCE,
    });
    const { status, body } = await withAssertion(assertion, null);
    expect(status).toBe(401);
    expect(body).toEqual({
      error: "invalid_client",
      error_description: `client_id is required with a federated client assertion (its issuer "${cluster.issuer}" is not an app)`,
    });
  });

  it("an app without federated credentials says so", async () => {
    const assertion = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: ENTRA_AUDIENCE,
    });
    const { status, body } = await withAssertion(assertion, "plain");
    expect(status).toBe(401);
    expect(body.error_description).toMatch(/^the app "plain" has no federated credentials/);
  });
});

describe("a GitHub Actions OIDC token as client authentication", () => {
  it("fetched from the runner's token endpoint with the dev server as audience, it authenticates the app", async () => {
    const response = await fetch(`${actions.requestUrl}&audience=${encodeURIComponent(dev.issuer)}`, {
      headers: { authorization: `bearer ${actions.requestToken}` },
    });
    expect(response.status).toBe(200);
    const { value } = (await response.json()) as { value: string };
    expect(decodeJwt(value)).toMatchObject({
      iss: github.issuer,
      aud: dev.issuer,
      sub: "repo:octo-org/deployer:ref:refs/heads/main",
      repository: "octo-org/deployer",
      repository_owner: "octo-org",
      ref: "refs/heads/main",
      job_workflow_ref: "octo-org/deployer/.github/workflows/ci.yml@refs/heads/main",
    });
    const { status, body } = await withAssertion(value, "deployer");
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token as string)).toMatchObject({ client_id: "deployer", aud: ORDERS });
  });

  it("the audience defaults to the issuer identifier; the token endpoint as audience is named", async () => {
    const assertion = await github.mintGitHubActionsToken({
      repository: "octo-org/deployer",
      audience: dev.tokenEndpoint,
    });
    const { status, body } = await withAssertion(assertion, "deployer");
    expect(status).toBe(401);
    expect(body.error_description).toBe(
      `wrong audience: the client_assertion's audience "${dev.tokenEndpoint}" does not hold "${dev.issuer}"; the default audience is the issuer identifier, not the token endpoint`,
    );
  });

  it("the app's own private_key_jwt assertions still work next to its federated credential", async () => {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "own" })
      .setIssuer("deployer")
      .setSubject("deployer")
      .setAudience(dev.issuer)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime("60s")
      .sign(ownKey.privateKey);
    const { status } = await withAssertion(assertion, "deployer");
    expect(status).toBe(200);
    // Single use, as oidc-provider rules for an app's own assertions.
    expect((await withAssertion(assertion, "deployer")).status).toBe(401);
  });
});

describe("a SPIFFE JWT-SVID (draft-ietf-oauth-spiffe-client-auth)", () => {
  const svid = (sub = SPIFFE_ID, options: { forged?: boolean } = {}) =>
    mesh.mint({ iss: undefined, sub, aud: [dev.issuer] }, { header: { typ: "JWT" }, ...options });

  it("client_assertion_type jwt-spiffe with keys from the trust domain's bundle endpoint, with or without client_id", async () => {
    for (const clientId of ["reporter", null]) {
      const { status, body } = await withAssertion(await svid(), clientId, JWT_SPIFFE);
      expect(body.error_description).toBeUndefined();
      expect(status).toBe(200);
      expect(decodeJwt(body.access_token as string).client_id).toBe("reporter");
    }
  });

  it("a JWT-SVID of another workload or signed with another key is refused", async () => {
    const other = await withAssertion(
      await svid("spiffe://example.org/ns/orders/sa/other"),
      "reporter",
      JWT_SPIFFE,
    );
    expect(other.status).toBe(401);
    expect(other.body.error_description).toMatch(
      /^wrong subject: the client_assertion's subject "spiffe:\/\/example\.org\/ns\/orders\/sa\/other"/,
    );
    const forged = await withAssertion(await svid(SPIFFE_ID, { forged: true }), "reporter", JWT_SPIFFE);
    expect(forged.status).toBe(401);
    expect(forged.body.error_description).toMatch(/^wrong key: /);
    const foreign = await withAssertion(await svid("spiffe://elsewhere.org/svc"), "reporter", JWT_SPIFFE);
    expect(foreign.body.error_description).toMatch(
      /^unknown issuer: the client_assertion's trust domain "spiffe:\/\/elsewhere\.org"/,
    );
  });
});

describe("the GitHub Actions token endpoint of m2m-kit/testing", () => {
  it("wants the request token; without an audience, GitHub's default audience", async () => {
    expect((await fetch(actions.requestUrl)).status).toBe(401);
    expect(
      (await fetch(actions.requestUrl, { headers: { authorization: "Bearer not-the-token" } })).status,
    ).toBe(401);
    const response = await fetch(actions.requestUrl, {
      headers: { authorization: `Bearer ${actions.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}` },
    });
    const { value } = (await response.json()) as { value: string };
    expect(decodeJwt(value).aud).toBe("https://github.com/octo-org");
    expect(actions.audiences.at(-1)).toBeUndefined();
  });
});

describe("federated credentials in the configuration", () => {
  const base = (app: Record<string, unknown>) => ({
    apis: [{ identifier: ORDERS, scopes: ["read:orders"] }],
    apps: [{ clientId: "svc", grants: { [ORDERS]: ["read:orders"] }, ...app }],
  });
  it.each([
    [
      { federated: [{ issuer: "https://issuer.example", subjet: "x" }] },
      "apps[0].federated[0].subjet: unknown field (did you mean subject?)",
    ],
    [
      { federated: [{ issuer: "https://issuer.example" }] },
      "apps[0].federated[0].subject: must be a non-empty string",
    ],
    [
      { federated: [{ issuer: "not a url", subject: "x" }] },
      "apps[0].federated[0].issuer: must be the issuer's URL",
    ],
    [
      { federated: [{ issuer: "spiffe://example.org", subject: "spiffe://example.org/a" }] },
      "apps[0].federated[0].jwksUri: is required for a SPIFFE trust domain",
    ],
    [
      {
        federated: [
          { issuer: "spiffe://example.org", subject: "spiffe://other.org/a", jwksUri: "https://b.example/" },
        ],
      },
      "apps[0].federated[0].subject: must be a SPIFFE ID of the trust domain (spiffe://example.org/…)",
    ],
    [
      {
        clientSecret: "s",
        authMethod: "client_secret_basic",
        federated: [{ issuer: "https://i.example", subject: "x" }],
      },
      "apps[0].authMethod: an app with federated credentials authenticates with client assertions (private_key_jwt)",
    ],
    [
      { clientSecret: "s", grantTypes: ["jwt-bearer"] },
      "apps[0].grantTypes: jwt-bearer needs federated credentials",
    ],
    [
      { clientSecret: "s", grantTypes: ["token_exchange"] },
      "apps[0].grantTypes[0]: must be one of client_credentials, token-exchange, jwt-bearer",
    ],
    [{ clientSecret: "s", grantTypes: [] }, "apps[0].grantTypes: must be a non-empty array"],
  ])("%j → DevConfigError", (app, message) => {
    let error: unknown;
    try {
      validateDevConfig(base(app), "config");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DevConfigError);
    expect((error as Error).message).toContain(`config: ${message}`);
  });

  it("an app with only federated credentials needs no secret and no jwks", () => {
    expect(() =>
      validateDevConfig(
        base({
          federated: [
            {
              issuer: "https://token.actions.githubusercontent.com",
              subject: "repo:o/r:ref:refs/heads/main",
            },
          ],
        }),
      ),
    ).not.toThrow();
  });
});
