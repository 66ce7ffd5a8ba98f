/**
 * The dev server's grants beyond client credentials: RFC 8693 token exchange (on-behalf-of calls, with
 * and without an actor; a platform token as the subject) and RFC 7523 §2.1 jwt-bearer (a federated
 * issuer's assertion as the grant). Raw form POSTs, the answers as RFC 8693 §2.2 and RFC 6749 §5.2
 * describe them, the issued tokens checked with createVerifier.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { ClientCredentialsClient, createVerifier } from "../../src/index.js";
import {
  createDpopProof,
  createTestIssuer,
  generateDpopKey,
  type TestIssuer,
} from "../../src/testing/index.js";

const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const JWT = "urn:ietf:params:oauth:token-type:jwt";
const WORKER = "system:serviceaccount:orders:worker";

let cluster: TestIssuer;
let dev: DevServer;

const basic = (clientId: string, secret: string) => ({
  authorization: `Basic ${btoa(`${clientId}:${secret}`)}`,
});
const ORDERS_API = basic("orders-api", "orders-api-secret");

async function post(form: Record<string, string> | string[][], headers: Record<string, string> = {}) {
  const response = await fetch(dev.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A client credentials token of an app, as the caller of an API holds it. */
async function accessTokenOf(clientId: string, audience: string): Promise<string> {
  const client = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId,
    clientSecret: `${clientId}-secret`,
  });
  const { accessToken } = await client.getToken({ audience });
  await client.close();
  return accessToken;
}

beforeAll(async () => {
  cluster = await createTestIssuer();
  dev = await startDevServer({
    config: {
      apis: [
        { identifier: ORDERS, scopes: ["read:orders", "write:orders"] },
        { identifier: BILLING, scopes: ["read:invoices", "write:invoices"], tokenLifetimeSeconds: 900 },
      ],
      apps: [
        { clientId: "frontend", clientSecret: "frontend-secret", grants: { [ORDERS]: ["read:orders"] } },
        { clientId: "agent", clientSecret: "agent-secret", grants: { [ORDERS]: ["read:orders"] } },
        {
          // The orders API calls billing on behalf of its callers.
          clientId: "orders-api",
          clientSecret: "orders-api-secret",
          grantTypes: ["client_credentials", "token-exchange"],
          grants: { [BILLING]: ["read:invoices"] },
        },
        {
          clientId: "billing-api",
          clientSecret: "billing-api-secret",
          grantTypes: ["token-exchange"],
          grants: { [ORDERS]: ["read:orders"] },
        },
        {
          clientId: "bound",
          clientSecret: "bound-secret",
          dpop: true,
          grantTypes: ["token-exchange"],
          grants: { [BILLING]: ["read:invoices"] },
        },
        {
          // A workload whose platform token is the grant (Google STS, Keycloak style).
          clientId: "worker",
          federated: [{ issuer: cluster.issuer, subject: WORKER, audience: "https://dev.local" }],
          grantTypes: ["token-exchange", "jwt-bearer"],
          grants: { [ORDERS]: ["read:orders", "write:orders"] },
        },
      ],
    },
  });
});

afterAll(async () => {
  await dev?.close();
  await cluster?.close();
});

describe("RFC 8693 token exchange", () => {
  it("without an actor: the token is about the subject, for the requested API, and the app is the actor", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const { status, body } = await post(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN,
        audience: BILLING,
      },
      ORDERS_API,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      issued_token_type: ACCESS_TOKEN,
      token_type: "Bearer",
      scope: "read:invoices",
    });
    const verifier = createVerifier({ issuer: dev.issuer, audience: BILLING, requireTyp: true });
    const result = await verifier.verify(body.access_token as string);
    expect(result.scopes).toEqual(["read:invoices"]);
    expect(result.claims).toMatchObject({
      sub: "frontend",
      client_id: "orders-api",
      act: { sub: "orders-api" },
    });
    // It does not outlive its subject (a 3600 s token, exchanged for a 900 s API): min of both.
    expect(body.expires_in).toBeLessThanOrEqual(900);
  });

  it("an app exchanging its own token without an actor gets no act (it delegates to nobody)", async () => {
    const own = await accessTokenOf("orders-api", BILLING);
    const { status, body } = await post(
      { grant_type: TOKEN_EXCHANGE, subject_token: own, subject_token_type: ACCESS_TOKEN, audience: BILLING },
      ORDERS_API,
    );
    expect(status).toBe(200);
    const claims = decodeJwt(body.access_token as string);
    expect(claims).toMatchObject({ sub: "orders-api", client_id: "orders-api" });
    expect(claims).not.toHaveProperty("act");
  });

  it("with an actor: act names the actor, and an exchanged token exchanged again nests the earlier actor", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const actor = await accessTokenOf("agent", ORDERS);
    const first = await post(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN,
        actor_token: actor,
        actor_token_type: ACCESS_TOKEN,
        resource: BILLING,
      },
      ORDERS_API,
    );
    expect(first.status).toBe(200);
    const exchanged = first.body.access_token as string;
    expect(decodeJwt(exchanged)).toMatchObject({
      sub: "frontend",
      client_id: "orders-api",
      act: { sub: "agent" },
    });
    // The billing API calls orders on behalf of the same user: RFC 8693 §4.1, prior actors nest.
    const second = await post(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: exchanged,
        subject_token_type: JWT,
        requested_token_type: JWT,
        audience: ORDERS,
      },
      basic("billing-api", "billing-api-secret"),
    );
    expect(second.status).toBe(200);
    expect(second.body.issued_token_type).toBe(JWT);
    expect(decodeJwt(second.body.access_token as string)).toMatchObject({
      sub: "frontend",
      client_id: "billing-api",
      act: { sub: "billing-api", act: { sub: "agent" } },
    });
  });

  it("actor_token without actor_token_type, or a missing subject_token_type → invalid_request", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const noActorType = await post(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN,
        actor_token: await accessTokenOf("agent", ORDERS),
        audience: BILLING,
      },
      ORDERS_API,
    );
    expect(noActorType).toEqual({
      status: 400,
      body: {
        error: "invalid_request",
        error_description: "actor_token_type is required with actor_token (RFC 8693 §2.1)",
      },
    });
    const noSubjectType = await post(
      { grant_type: TOKEN_EXCHANGE, subject_token: subject, audience: BILLING },
      ORDERS_API,
    );
    expect(noSubjectType.body).toEqual({
      error: "invalid_request",
      error_description: "subject_token_type is required (RFC 8693 §2.1)",
    });
  });

  it("an app not allowed token exchange → unauthorized_client naming its grant types", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const { status, body } = await post(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN,
        audience: ORDERS,
      },
      basic("agent", "agent-secret"),
    );
    expect(status).toBe(400);
    expect(body).toEqual({
      error: "unauthorized_client",
      error_description: `the app "agent" may not use the grant type ${TOKEN_EXCHANGE} (its grantTypes: client_credentials)`,
    });
    // The same for client credentials, for an app allowed only token exchange.
    const cc = await post(
      { grant_type: "client_credentials", resource: ORDERS },
      basic("billing-api", "billing-api-secret"),
    );
    expect(cc.body.error).toBe("unauthorized_client");
  });

  it("client credentials naming two APIs with audience is refused, not served for the first", async () => {
    const { status, body } = await post(
      [
        ["grant_type", "client_credentials"],
        ["audience", BILLING],
        ["audience", ORDERS],
      ],
      ORDERS_API,
    );
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_target");
  });

  it("an API the app is not authorized for → invalid_target; a scope it is not granted → invalid_scope", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const form = { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN };
    const target = await post({ ...form, audience: ORDERS }, ORDERS_API);
    expect(target.status).toBe(400);
    expect(target.body).toEqual({
      error: "invalid_target",
      error_description: `the app is not authorized for the API ${ORDERS}`,
    });
    // Several APIs in one request (RFC 8693 allows several audience values): refused, not narrowed.
    const several = await post(
      [...Object.entries(form), ["audience", BILLING], ["audience", ORDERS]],
      ORDERS_API,
    );
    expect(several.body).toEqual({
      error: "invalid_target",
      error_description: "one API per request: send a single resource (or audience)",
    });
    const scope = await post({ ...form, audience: BILLING, scope: "write:invoices" }, ORDERS_API);
    expect(scope.body).toMatchObject({ error: "invalid_scope" });
  });

  it("a subject token that is forged, expired, or of an issuer the app does not trust → invalid_request saying why", async () => {
    const form = (subject: string) => ({
      grant_type: TOKEN_EXCHANGE,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN,
      audience: BILLING,
    });
    const [header, payload] = (await accessTokenOf("frontend", ORDERS)).split(".");
    const tampered = `${header}.${payload}.${"A".repeat(86)}`;
    const cases: Array<[string, string]> = [
      [tampered, "the subject_token's signature does not verify with this server's keys"],
      [
        await cluster.mint({ sub: "someone" }),
        `the subject_token's issuer "${cluster.issuer}" is neither this server nor a federated issuer of the app "orders-api"`,
      ],
      [
        "not-a-jwt",
        "the subject_token is not a JWT (this server's access tokens and federated issuers' tokens are)",
      ],
    ];
    for (const [subject, description] of cases) {
      const { status, body } = await post(form(subject), ORDERS_API);
      expect(status).toBe(400);
      expect(body).toEqual({ error: "invalid_request", error_description: description });
    }
  });

  it("a DPoP proof binds the exchanged token; an app that requires DPoP is refused without one", async () => {
    const subject = await accessTokenOf("frontend", ORDERS);
    const form = {
      grant_type: TOKEN_EXCHANGE,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN,
      audience: BILLING,
    };
    const key = await generateDpopKey("ES256");
    const proof = await createDpopProof(key, { method: "POST", url: dev.tokenEndpoint });
    const bound = await post(form, { ...basic("bound", "bound-secret"), dpop: proof });
    expect(bound.status).toBe(200);
    expect(bound.body.token_type).toBe("DPoP");
    expect(decodeJwt(bound.body.access_token as string).cnf).toEqual({ jkt: key.thumbprint });
    const replayed = await post(form, { ...basic("bound", "bound-secret"), dpop: proof });
    expect(replayed.body.error).toBe("invalid_dpop_proof");
    const missing = await post(form, basic("bound", "bound-secret"));
    expect(missing.body.error).toBe("invalid_grant");
  });
});

describe("a platform token as the grant", () => {
  it("token exchange with a Kubernetes token as subject_token: no client authentication needed, sub is the workload", async () => {
    const subject = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: "https://dev.local",
      expiresInSeconds: 120,
    });
    const { status, body } = await post({
      grant_type: TOKEN_EXCHANGE,
      client_id: "worker",
      subject_token: subject,
      subject_token_type: JWT,
      audience: ORDERS,
      scope: "read:orders",
    });
    expect(status).toBe(200);
    expect(body.expires_in).toBeLessThanOrEqual(120);
    expect(decodeJwt(body.access_token as string)).toMatchObject({
      sub: WORKER,
      client_id: "worker",
      scope: "read:orders",
      act: { sub: "worker" },
    });
  });

  it("a subject token whose may_act names someone else is refused (RFC 8693 §4.4)", async () => {
    const subject = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: "https://dev.local",
      claims: { may_act: { sub: "someone-else" } },
    });
    const { body } = await post({
      grant_type: TOKEN_EXCHANGE,
      client_id: "worker",
      subject_token: subject,
      subject_token_type: JWT,
      audience: ORDERS,
    });
    expect(body).toEqual({
      error: "invalid_request",
      error_description: `the subject_token's may_act does not name the actor "worker" (RFC 8693 §4.4)`,
    });
  });

  it("jwt-bearer (RFC 7523 §2.1): the assertion's subject is the token's; client_id may be left out", async () => {
    const assertion = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: "https://dev.local",
    });
    for (const clientId of [{ client_id: "worker" }, {}] as Record<string, string>[]) {
      const { status, body } = await post({
        grant_type: JWT_BEARER_GRANT,
        assertion,
        resource: ORDERS,
        ...clientId,
      });
      expect(status).toBe(200);
      expect(body).not.toHaveProperty("issued_token_type");
      const claims = await createVerifier({ issuer: dev.issuer, audience: ORDERS }).verify(
        body.access_token as string,
      );
      expect(claims.claims).toMatchObject({ sub: WORKER, client_id: "worker" });
      expect(claims.claims).not.toHaveProperty("act");
      expect([...claims.scopes].sort()).toEqual(["read:orders", "write:orders"]);
    }
  });

  it("jwt-bearer with an assertion of another workload or audience → invalid_grant saying which", async () => {
    const intruder = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "intruder",
      audience: "https://dev.local",
    });
    const wrongSubject = await post({
      grant_type: JWT_BEARER_GRANT,
      client_id: "worker",
      assertion: intruder,
    });
    expect(wrongSubject.status).toBe(400);
    expect(wrongSubject.body.error).toBe("invalid_grant");
    expect(wrongSubject.body.error_description).toMatch(
      /^wrong subject: the assertion's subject "system:serviceaccount:orders:intruder"/,
    );
    const otherAudience = await cluster.mintKubernetesToken({
      namespace: "orders",
      serviceAccount: "worker",
      audience: "https://kubernetes.default.svc",
    });
    const wrongAudience = await post({
      grant_type: JWT_BEARER_GRANT,
      client_id: "worker",
      assertion: otherAudience,
    });
    expect(wrongAudience.body).toMatchObject({ error: "invalid_grant" });
    expect(wrongAudience.body.error_description).toMatch(/^wrong audience: /);
  });

  it("discovery lists the grant types the apps may use", async () => {
    const metadata = (await (await fetch(`${dev.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata.grant_types_supported).toEqual(["client_credentials", TOKEN_EXCHANGE, JWT_BEARER_GRANT]);
  });
});
