/**
 * RFC 8705 on the client: `tls_client_auth` and `self_signed_tls_client_auth` against oidc-provider's
 * mTLS features, behind a real HTTPS listener that asks for client certificates and is listed as
 * `mtls_endpoint_aliases.token_endpoint`. The issuer's own listener asks for none, so a token request
 * that reaches it without the alias gets no certificate through.
 */
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientEvent,
  type FetchLike,
  MemoryTokenStore,
  OAuthError,
} from "../../src/index.js";
import { createNodeFetch, type NodeFetch, type NodeFetchOptions } from "../../src/node/index.js";
import { createTestPki, type TestPki } from "../support/certs.js";
import { ODD_SECRET, type RunningProvider, startMtlsProvider } from "../support/oidc.js";

const API = "https://api.example.com";
let pki: TestPki;
let as: RunningProvider;
const opened: NodeFetch[] = [];

function transport(options: NodeFetchOptions = {}): NodeFetch {
  const made = createNodeFetch({ proxy: false, ca: pki.ca.cert, ...options });
  opened.push(made);
  return made;
}

beforeAll(async () => {
  pki = await createTestPki();
  as = await startMtlsProvider(pki, [
    {
      client_id: "billing-job",
      token_endpoint_auth_method: "tls_client_auth",
      tls_client_auth_subject_dn: pki.otherClient.subject,
      tls_client_certificate_bound_access_tokens: true,
    },
    {
      client_id: "basic-bound",
      client_secret: ODD_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
      tls_client_certificate_bound_access_tokens: true,
    },
  ]);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((made) => made.close()));
});
afterAll(async () => {
  await as.close();
});

function newClient(options: Partial<ConstructorParameters<typeof ClientCredentialsClient>[0]>) {
  const events: ClientEvent[] = [];
  const client = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "orders-job",
    defaultAudience: API,
    retry: false,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { client, events };
}

const tokenEndpointOf = (events: ClientEvent[]) =>
  events.find((event): event is Extract<ClientEvent, { type: "discovery" }> => event.type === "discovery")
    ?.tokenEndpoint;

describe("tls_client_auth and self_signed_tls_client_auth", () => {
  it("tls_client_auth gets a certificate-bound token from the mTLS alias endpoint", async () => {
    const fetch = transport({ cert: pki.client.cert, key: pki.client.key });
    const { client, events } = newClient({ fetch, authMethod: "tls_client_auth" });
    const token = await client.getToken();

    expect(tokenEndpointOf(events)).toBe(as.mtlsTokenEndpoint);
    expect(as.mtlsTokenEndpoint).not.toBe(as.tokenEndpoint);
    const claims = decodeJwt(token.accessToken);
    expect(claims.client_id).toBe("orders-job");
    expect(claims.cnf).toEqual({ "x5t#S256": pki.client.thumbprint });
    // The request carried the client id and no secret.
    const sent = as.requests.at(-1);
    expect(sent?.params.get("client_id")).toBe("orders-job");
    expect(sent?.authorization).toBeUndefined();
    expect(sent?.params.has("client_secret")).toBe(false);
  });

  it("self_signed_tls_client_auth gets a token bound to the self-signed certificate", async () => {
    const fetch = transport({ cert: pki.selfSigned.cert, key: pki.selfSigned.key });
    const { client, events } = newClient({
      fetch,
      clientId: "sensor-42",
      authMethod: "self_signed_tls_client_auth",
    });
    const token = await client.getToken();
    expect(tokenEndpointOf(events)).toBe(as.mtlsTokenEndpoint);
    expect(decodeJwt(token.accessToken).cnf).toEqual({ "x5t#S256": pki.selfSigned.thumbprint });
  });

  it("defaults to tls_client_auth when the fetch presents a certificate and no secret or key is given", async () => {
    const { client } = newClient({ fetch: transport({ cert: pki.client.cert, key: pki.client.key }) });
    const token = await client.getToken();
    expect(decodeJwt(token.accessToken).cnf).toEqual({ "x5t#S256": pki.client.thumbprint });
  });

  it("a client_secret_basic client whose transport presents a certificate uses the alias and gets a bound token", async () => {
    const fetch = transport({ cert: pki.client.cert, key: pki.client.key });
    const { client, events } = newClient({ fetch, clientId: "basic-bound", clientSecret: ODD_SECRET });
    const token = await client.getToken();
    expect(tokenEndpointOf(events)).toBe(as.mtlsTokenEndpoint);
    expect(decodeJwt(token.accessToken).cnf).toEqual({ "x5t#S256": pki.client.thumbprint });
  });

  it("without the alias (plain token endpoint) the certificate never reaches the server", async () => {
    const fetch = transport({ cert: pki.client.cert, key: pki.client.key });
    const { client } = newClient({
      fetch,
      issuer: undefined,
      tokenEndpoint: as.tokenEndpoint,
      authMethod: "tls_client_auth",
    });
    const error = await client.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).error).toBe("invalid_client");
  });

  it("the server refuses a certificate for another client, and one from an untrusted CA", async () => {
    for (const cert of [pki.otherClient, pki.strangerClient]) {
      const { client } = newClient({
        fetch: transport({ cert: cert.cert, key: cert.key }),
        authMethod: "tls_client_auth",
      });
      const error = await client.getToken().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OAuthError);
      expect((error as OAuthError).error).toBe("invalid_client");
      // m2m-kit made this transport and knows it presents a certificate: no hint.
      expect((error as Error).message).not.toContain("cannot see");
    }
    // The other certificate works for its own client (subject DN match).
    const { client } = newClient({
      clientId: "billing-job",
      fetch: transport({ cert: pki.otherClient.cert, key: pki.otherClient.key }),
    });
    expect(decodeJwt((await client.getToken()).accessToken).cnf).toEqual({
      "x5t#S256": pki.otherClient.thumbprint,
    });
  });
});

describe("a store shared by clients with different certificates", () => {
  it("a certificate the server refuses gets invalid_client, not the token another certificate obtained", async () => {
    const store = new MemoryTokenStore();
    const right = newClient({
      fetch: transport({ cert: pki.client.cert, key: pki.client.key }),
      authMethod: "tls_client_auth",
      store,
    });
    await right.client.getToken();
    const other = newClient({
      fetch: transport({ cert: pki.otherClient.cert, key: pki.otherClient.key }),
      authMethod: "tls_client_auth",
      store,
    });
    const error = await other.client.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).error).toBe("invalid_client");
    // The same certificate shares the token.
    const again = newClient({
      fetch: transport({ cert: pki.client.cert, key: pki.client.key }),
      authMethod: "tls_client_auth",
      store,
    });
    const before = as.tokenRequests;
    await again.client.getToken();
    expect(as.tokenRequests).toBe(before);
  });
});

describe("a transport without a certificate", () => {
  it("is a TypeError with a createNodeFetch transport that presents none", () => {
    for (const authMethod of ["tls_client_auth", "self_signed_tls_client_auth"] as const) {
      expect(() => newClient({ fetch: transport(), authMethod })).toThrow(
        new TypeError(
          `authMethod ${authMethod} needs a fetch that presents a client certificate (createNodeFetch({ cert, key }) or createNodeFetch({ pfx }) from m2m-kit/node); this one presents none`,
        ),
      );
    }
  });

  it("a refusal through a fetch of the user's own carries a hint", async () => {
    const inner = transport(); // trusts the CA, presents no certificate
    const own: FetchLike = (input, init) => inner(input, init);
    const { client } = newClient({ fetch: own, authMethod: "tls_client_auth" });
    const error = await client.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).error).toBe("invalid_client");
    expect((error as Error).message).toBe(
      "token endpoint answered 401 invalid_client: client authentication failed (authMethod tls_client_auth: the client certificate is presented by the fetch, and m2m-kit cannot see whether yours presents one; createNodeFetch({ cert, key }) or createNodeFetch({ pfx }) from m2m-kit/node does)",
    );
  });
});
