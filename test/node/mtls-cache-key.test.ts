/**
 * The client certificate is part of the cache key whatever the transport and whatever the
 * authentication method. A `fetch` m2m-kit cannot see into (undici's own `fetch` with an `Agent` of
 * the user's, as many apps already have) presents a certificate m2m-kit cannot name: its tokens are
 * this client's own, so a certificate the server refuses never receives a token another certificate
 * obtained. And a client secret whose transport presents a certificate gets certificate-bound tokens
 * (RFC 8705 §3): a token bound to one certificate is never handed to a client with another one.
 * oidc-provider and its mTLS listener are real; the clients share one store, as processes share Redis.
 */
import { decodeJwt } from "jose";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type FetchLike, MemoryTokenStore, OAuthError } from "../../src/index.js";
import { createNodeFetch, type NodeFetch } from "../../src/node/index.js";
import { createTestPki, type TestCert, type TestPki } from "../support/certs.js";
import { ODD_SECRET, type RunningProvider, startMtlsProvider } from "../support/oidc.js";

const API = "https://api.example.com";
let pki: TestPki;
let as: RunningProvider;
const agents: Agent[] = [];
const transports: NodeFetch[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  as = await startMtlsProvider(pki, [
    {
      // tls_client_auth whose tokens are plain bearer tokens (the default of most servers).
      client_id: "unbound-job",
      token_endpoint_auth_method: "tls_client_auth",
      tls_client_auth_san_dns: "orders-job.clients.example",
    },
    {
      client_id: "basic-bound",
      client_secret: ODD_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
      tls_client_certificate_bound_access_tokens: true,
    },
  ]);
});

afterAll(async () => {
  await Promise.all([...agents.map((agent) => agent.close()), ...transports.map((t) => t.close())]);
  await as?.close();
});

/** undici's own fetch with an Agent that presents `cert`: a transport m2m-kit cannot see into. */
function ownTransport(cert: TestCert): FetchLike {
  const agent = new Agent({ connect: { ca: pki.ca.cert, cert: cert.cert, key: cert.key } });
  agents.push(agent);
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent })) as unknown as FetchLike;
}

function nodeTransport(cert: TestCert): NodeFetch {
  const made = createNodeFetch({ proxy: false, ca: pki.ca.cert, cert: cert.cert, key: cert.key });
  transports.push(made);
  return made;
}

describe("a transport m2m-kit cannot see into (tls_client_auth)", () => {
  it("a certificate the server refuses gets invalid_client, not the token another certificate obtained", async () => {
    const store = new MemoryTokenStore();
    const options = {
      issuer: as.issuer,
      clientId: "unbound-job",
      authMethod: "tls_client_auth" as const,
      defaultAudience: API,
      retry: false as const,
      store,
    };
    const right = new ClientCredentialsClient({ ...options, fetch: ownTransport(pki.client) });
    const token = await right.getToken();
    expect(decodeJwt(token.accessToken).cnf).toBeUndefined(); // a plain bearer token

    const wrong = new ClientCredentialsClient({ ...options, fetch: ownTransport(pki.otherClient) });
    const error = await wrong.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).error).toBe("invalid_client");
  });
});

describe("a client secret whose transport presents a certificate (certificate-bound tokens)", () => {
  it("a client with another certificate gets a token bound to its own certificate", async () => {
    const store = new MemoryTokenStore();
    const options = {
      issuer: as.issuer,
      clientId: "basic-bound",
      clientSecret: ODD_SECRET,
      defaultAudience: API,
      retry: false as const,
      store,
    };
    const first = new ClientCredentialsClient({ ...options, fetch: nodeTransport(pki.client) });
    expect(decodeJwt((await first.getToken()).accessToken).cnf).toEqual({
      "x5t#S256": pki.client.thumbprint,
    });
    const second = new ClientCredentialsClient({ ...options, fetch: nodeTransport(pki.otherClient) });
    expect(decodeJwt((await second.getToken()).accessToken).cnf).toEqual({
      "x5t#S256": pki.otherClient.thumbprint,
    });
    // The same certificate shares the token.
    const third = new ClientCredentialsClient({ ...options, fetch: nodeTransport(pki.client) });
    const before = as.tokenRequests;
    await third.getToken();
    expect(as.tokenRequests).toBe(before);
  });
});
