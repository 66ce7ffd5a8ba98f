/**
 * `m2m-kit/node` on real sockets: a forward proxy from the environment or an option (CONNECT and
 * plain requests, with and without credentials), NO_PROXY, a private CA, keep-alive.
 */
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  createVerifier,
  M2MError,
  TokenRequestError,
  VerifierUnavailableError,
} from "../../src/index.js";
import { createNodeFetch, type NodeFetch } from "../../src/node/index.js";
import { createTestPki, type TestPki } from "../support/certs.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { type RunningProxy, startProxy } from "../support/proxy.js";

const API = "https://api.example.com";
const PROXY_PASSWORD = "pr0xy-pa55word-never-printed";
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

let pki: TestPki;
let plain: RunningProvider; // http://127.0.0.1
let tlsAs: RunningProvider; // https://127.0.0.1, certificate signed by the test CA
let proxy: RunningProxy;
let authProxy: RunningProxy;
const opened: NodeFetch[] = [];
const savedEnv = new Map(PROXY_ENV.map((name) => [name, process.env[name]]));

function nodeFetch(options: Parameters<typeof createNodeFetch>[0] = {}): NodeFetch {
  const made = createNodeFetch(options);
  opened.push(made);
  return made;
}

function setProxyEnv(values: Record<string, string>) {
  for (const name of PROXY_ENV) delete process.env[name];
  Object.assign(process.env, values);
}

beforeAll(async () => {
  pki = await createTestPki();
  plain = await startProvider();
  tlsAs = await startProvider({ https: { cert: pki.server.cert, key: pki.server.key } });
  proxy = await startProxy();
  authProxy = await startProxy({ username: "svc-proxy", password: PROXY_PASSWORD });
});
afterEach(async () => {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await Promise.all(opened.splice(0).map((made) => made.close()));
  proxy.log.length = 0;
  authProxy.log.length = 0;
});
afterAll(async () => {
  await Promise.all([plain.close(), tlsAs.close(), proxy.close(), authProxy.close()]);
});

function client(issuer: string, fetch: NodeFetch, secret = ODD_SECRET) {
  return new ClientCredentialsClient({
    issuer,
    clientId: "basic-client",
    clientSecret: secret,
    defaultAudience: API,
    fetch,
    retry: false,
  });
}

describe("proxy from the environment", () => {
  it("sends discovery, the token request and the JWKS fetch through HTTP_PROXY as plain requests", async () => {
    setProxyEnv({ HTTP_PROXY: proxy.url });
    const fetch = nodeFetch();
    const token = await client(plain.issuer, fetch).getToken();
    const verifier = createVerifier({ issuer: plain.issuer, audience: API, fetch });
    await verifier.verify(token.accessToken);

    const host = new URL(plain.issuer).host;
    expect(proxy.log.map(({ method, target }) => `${method} ${target}`)).toEqual([
      `GET http://${host}/.well-known/openid-configuration`,
      `POST http://${host}/token`,
      `GET http://${host}/.well-known/openid-configuration`,
      `GET http://${host}/jwks`,
    ]);
  });

  it("tunnels https requests through HTTPS_PROXY with CONNECT (lower-case names too)", async () => {
    setProxyEnv({ https_proxy: proxy.url });
    const fetch = nodeFetch({ ca: pki.ca.cert });
    const token = await client(tlsAs.issuer, fetch).getToken();
    await createVerifier({ issuer: tlsAs.issuer, audience: API, fetch }).verify(token.accessToken);

    const host = new URL(tlsAs.issuer).host;
    expect(proxy.log.length).toBeGreaterThanOrEqual(1);
    expect(proxy.log.every((entry) => entry.method === "CONNECT" && entry.target === host)).toBe(true);
  });

  it("bypasses the proxy for hosts in NO_PROXY", async () => {
    setProxyEnv({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: "localhost,127.0.0.1" });
    const fetch = nodeFetch({ ca: pki.ca.cert });
    const before = proxy.connections;
    await client(plain.issuer, fetch).getToken();
    await client(tlsAs.issuer, fetch).getToken();
    expect(proxy.log).toEqual([]);
    expect(proxy.connections).toBe(before);
  });

  it("uses no proxy with proxy: false, whatever the environment says", async () => {
    setProxyEnv({ HTTP_PROXY: "http://127.0.0.1:9" });
    await client(plain.issuer, nodeFetch({ proxy: false })).getToken();
  });
});

describe("proxy with credentials", () => {
  it("authenticates to the proxy with the credentials of the proxy URL (plain and CONNECT)", async () => {
    const fetch = nodeFetch({ proxy: authProxy.urlWithCredentials, ca: pki.ca.cert });
    await client(plain.issuer, fetch).getToken();
    await client(tlsAs.issuer, fetch).getToken();
    expect(authProxy.log.length).toBeGreaterThanOrEqual(3);
    expect(authProxy.log.every((entry) => entry.withCredentials && entry.allowed)).toBe(true);
    expect(new Set(authProxy.log.map((entry) => entry.method))).toEqual(new Set(["GET", "POST", "CONNECT"]));
  });

  it.each([
    ["http", () => plain.issuer],
    ["https", () => tlsAs.issuer],
  ])(
    "a wrong proxy password (%s issuer) is a TokenRequestError naming neither secret",
    async (_kind, issuer) => {
      const wrong = authProxy.urlWithCredentials.replace(encodeURIComponent(PROXY_PASSWORD), "wrong-Pa55");
      const fetch = nodeFetch({ proxy: wrong, ca: pki.ca.cert });
      const error = await client(issuer(), fetch, ODD_SECRET)
        .getToken()
        .catch((e: unknown) => e);
      // Discovery is the first request through the proxy; with a token endpoint it is the token request.
      expect(error).toBeInstanceOf(M2MError);
      const tokenError = await new ClientCredentialsClient({
        tokenEndpoint: `${issuer()}/token`,
        clientId: "basic-client",
        clientSecret: ODD_SECRET,
        fetch,
        retry: false,
      })
        .getToken({ audience: API })
        .catch((e: unknown) => e);
      expect(tokenError).toBeInstanceOf(TokenRequestError);
      for (const shown of [error, tokenError]) {
        const text = [String(shown), inspect(shown, { depth: 10 }), JSON.stringify(shown)].join("\n");
        expect(text).toContain("407");
        expect(text).not.toContain(PROXY_PASSWORD);
        expect(text).not.toContain("wrong-Pa55");
        expect(text).not.toContain(ODD_SECRET);
        expect(text).not.toContain(encodeURIComponent(ODD_SECRET));
      }
      expect(authProxy.log.some((entry) => entry.withCredentials && !entry.allowed)).toBe(true);
    },
  );
});

describe("a proxy that refuses the credentials (407)", () => {
  it.each([
    ["http", () => plain.issuer],
    ["https", () => tlsAs.issuer],
  ])("is a TokenRequestError that is not transient and is not retried (%s issuer)", async (_kind, issuer) => {
    const wrong = authProxy.urlWithCredentials.replace(encodeURIComponent(PROXY_PASSWORD), "wrong-Pa55");
    const events: string[] = [];
    const error = await new ClientCredentialsClient({
      tokenEndpoint: `${issuer()}/token`,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      fetch: nodeFetch({ proxy: wrong, ca: pki.ca.cert }),
      retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 },
      onEvent: (event) => events.push(event.type),
    })
      .getToken({ audience: API })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error).toMatchObject({ code: "ERR_TOKEN_REQUEST", transient: false });
    expect((error as Error).message).toBe(
      "token request failed: the proxy refused authentication (407 Proxy Authentication Required); check the proxy credentials",
    );
    expect(events).not.toContain("retry");
    expect(authProxy.log.filter((entry) => !entry.allowed)).toHaveLength(1);
    const text = [String(error), inspect(error, { depth: 10 }), JSON.stringify(error)].join("\n");
    expect(text).not.toContain(PROXY_PASSWORD);
    expect(text).not.toContain("wrong-Pa55");
  });

  it("fails discovery at once, without trying again", async () => {
    const wrong = authProxy.urlWithCredentials.replace(encodeURIComponent(PROXY_PASSWORD), "wrong-Pa55");
    const error = await new ClientCredentialsClient({
      issuer: tlsAs.issuer,
      clientId: "basic-client",
      clientSecret: ODD_SECRET,
      fetch: nodeFetch({ proxy: wrong, ca: pki.ca.cert }),
      retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 },
    })
      .getToken({ audience: API })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ERR_DISCOVERY", transient: false });
    expect((error as Error).message).toContain("the proxy refused authentication (407");
    expect(authProxy.log.filter((entry) => !entry.allowed)).toHaveLength(1);
  });
});

describe("private CA", () => {
  it("verifies an HTTPS issuer signed by the test CA with `ca`, and refuses it without", async () => {
    const token = await client(tlsAs.issuer, nodeFetch({ proxy: false, ca: pki.ca.cert })).getToken();
    const trusted = createVerifier({
      issuer: tlsAs.issuer,
      audience: API,
      fetch: nodeFetch({ proxy: false, ca: pki.ca.cert }),
    });
    await expect(trusted.verify(token.accessToken)).resolves.toMatchObject({ clientId: "basic-client" });

    const untrusted = createVerifier({
      issuer: tlsAs.issuer,
      audience: API,
      fetch: nodeFetch({ proxy: false }),
    });
    const error = await untrusted.verify(token.accessToken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifierUnavailableError);

    const stranger = createVerifier({
      issuer: tlsAs.issuer,
      audience: API,
      fetch: nodeFetch({ proxy: false, ca: pki.strangerCa.cert }),
    });
    await expect(stranger.verify(token.accessToken)).rejects.toBeInstanceOf(VerifierUnavailableError);
  });
});

describe("keep-alive", () => {
  it("100 sequential token requests use at most 2 connections at the server", async () => {
    const fetch = nodeFetch({ proxy: false });
    const before = plain.connections;
    const c = client(plain.issuer, fetch);
    for (let i = 0; i < 100; i++) await c.getToken({ forceRefresh: true });
    expect(plain.tokenRequests).toBeGreaterThanOrEqual(100);
    expect(plain.connections - before).toBeLessThanOrEqual(2);
  });
});

describe("createNodeFetch options", () => {
  it("says whether it presents a client certificate, and never shows the key or proxy password", () => {
    const withCert = nodeFetch({
      cert: pki.client.cert,
      key: pki.client.key,
      proxy: authProxy.urlWithCredentials,
    });
    expect(withCert.presentsClientCertificate).toBe(true);
    expect(nodeFetch({ proxy: false }).presentsClientCertificate).toBe(false);
    const shown = `${inspect(withCert, { depth: 10, showHidden: false })} ${JSON.stringify(withCert)}`;
    expect(shown).not.toContain(PROXY_PASSWORD);
    expect(shown).not.toContain("PRIVATE KEY");
    // Not with showHidden either (console.dir of a configuration object, a debugger's view).
    const hidden = inspect(withCert, { depth: 10, showHidden: true });
    expect(hidden).not.toContain(PROXY_PASSWORD);
    expect(hidden).not.toContain(Buffer.from(`svc-proxy:${PROXY_PASSWORD}`).toString("base64"));
    expect(hidden).not.toContain("PRIVATE KEY");
  });

  it.each(["HTTPS_PROXY", "http_proxy"])(
    "%s without a scheme (user:password@host:port) is a TypeError naming it, without the credentials",
    (name) => {
      setProxyEnv({ [name]: `${PROXY_PASSWORD}:x@127.0.0.1:3128` });
      expect(() => nodeFetch()).toThrow(
        expect.objectContaining({
          name: "TypeError",
          message: `${name} is not a valid proxy URL (http://host:port)`,
        }),
      );
    },
  );

  it.each([
    [{ proxy: "socks://127.0.0.1:1080" }, /^proxy must be an http: or https: URL/],
    [{ proxy: `not a url ${PROXY_PASSWORD}` }, /^proxy must be "env", false or an http\(s\) proxy URL$/],
    // Without a scheme, a URL parser reads the user name as the scheme: it is not named.
    [{ proxy: `${PROXY_PASSWORD}:x@127.0.0.1:3128` }, /^proxy must be an http: or https: URL$/],
    [{ cert: "x" }, /^cert needs key/],
    [{ key: "x" }, /^key needs cert/],
    [{ ca: "not pem" }, /^ca is not a PEM certificate/],
    [{ ca: [] }, /^ca must be/],
    [{ connections: 0 }, /^connections must be a positive integer/],
    [{ keepAliveTimeoutMs: -1 }, /^keepAliveTimeoutMs must be/],
    [{ passphrase: 1 }, /^passphrase must be a string/],
    [{ pfx: "x" }, /^pfx must be the bytes/],
  ])("a bad option is a TypeError naming it: %o", (options, message) => {
    const error = (() => {
      try {
        createNodeFetch(options as never);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(PROXY_PASSWORD);
  });

  it("refuses a certificate whose key does not match, at construction", () => {
    expect(() => createNodeFetch({ cert: pki.client.cert, key: pki.otherClient.key })).toThrow(
      /^cert\/key could not be loaded: .*key values mismatch/,
    );
  });
});
