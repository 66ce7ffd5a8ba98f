/**
 * Network failures say what happened: each against a real socket (a closed port, a name that does
 * not resolve, a TLS server whose certificate nobody trusts, a server that never answers).
 */
import { once } from "node:events";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createNetServer } from "node:net";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, TokenRequestError } from "../../src/index.js";
import { createTestPki, type TestCert, type TestPki } from "../support/certs.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";

const SECRET = "network-secret-Zq81";

async function closedPort(): Promise<number> {
  const server = createNetServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function tokenError(tokenEndpoint: string, timeoutMs = 5_000): Promise<TokenRequestError> {
  const client = new ClientCredentialsClient({
    tokenEndpoint,
    clientId: "network-client",
    clientSecret: SECRET,
    allowInsecureHttp: true,
    retry: false,
    timeoutMs,
    clock: new ManualClock(),
  });
  const error = await client.getToken().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenRequestError);
  const failure = error as TokenRequestError;
  expect(failure.transient).toBe(true);
  // The whole chain, as a logger would print it: no secret anywhere.
  expect(inspect(failure, { depth: 10 })).not.toContain(SECRET);
  expect(failure.message).not.toMatch(/network error$/);
  return failure;
}

/** The cause chain stays attached: the runtime's own error is reachable. */
function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e = error as { cause?: unknown; code?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (typeof e.code === "string") codes.push(e.code);
    e = e.cause as typeof e;
  }
  return codes;
}

let pki: TestPki;
let fault: FaultServer;
const tlsServers: HttpsServer[] = [];
beforeAll(async () => {
  pki = await createTestPki();
  fault = await startFaultServer();
});
afterAll(async () => {
  await fault.close();
  for (const server of tlsServers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function tlsServer(cert: TestCert): Promise<string> {
  const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ access_token: "never-seen", token_type: "Bearer", expires_in: 60 }));
  });
  server.on("tlsClientError", () => {});
  tlsServers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `https://127.0.0.1:${(server.address() as { port: number }).port}/oauth/token`;
}

describe("network failures name their cause", () => {
  it("connection refused: the message names host:port", async () => {
    const port = await closedPort();
    const error = await tokenError(`http://127.0.0.1:${port}/oauth/token`);
    expect(error.message).toBe(
      `token request failed: connection refused by 127.0.0.1:${port} (ECONNREFUSED)`,
    );
    expect(causeCodes(error)).toContain("ECONNREFUSED");
  });

  it("connection refused through a name: still host:port", async () => {
    const port = await closedPort();
    const error = await tokenError(`http://localhost:${port}/oauth/token`);
    expect(error.message).toMatch(
      new RegExp(
        `^token request failed: connection refused by (127\\.0\\.0\\.1|\\[::1\\]):${port} \\(ECONNREFUSED\\)$`,
      ),
    );
  });

  it("a name that does not resolve: the message says DNS and names the host", async () => {
    // RFC 6761: .invalid never resolves. Offline resolvers answer EAI_AGAIN instead of ENOTFOUND.
    const error = await tokenError("https://token-endpoint.m2m-kit.invalid/oauth/token", 20_000);
    expect(error.message).toMatch(
      /^token request failed: DNS (name not found: |lookup failed for )token-endpoint\.m2m-kit\.invalid \((ENOTFOUND|EAI_AGAIN)\)$/,
    );
    expect(causeCodes(error).some((code) => code === "ENOTFOUND" || code === "EAI_AGAIN")).toBe(true);
  });

  it("a self-signed server certificate: a TLS failure that says so", async () => {
    const error = await tokenError(await tlsServer(pki.selfSignedServer));
    expect(error.message).toMatch(
      /^token request failed: TLS failure with 127\.0\.0\.1:\d+: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/,
    );
    expect(causeCodes(error)).toContain("DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  it("a certificate from a CA the client does not trust: a TLS failure that says so", async () => {
    const error = await tokenError(await tlsServer(pki.strangerServer));
    expect(error.message).toMatch(
      /^token request failed: TLS failure with 127\.0\.0\.1:\d+: certificate signed by an unknown CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/,
    );
  });

  it("https to a port that speaks plain HTTP: a TLS failure", async () => {
    const error = await tokenError(fault.tokenEndpoint.replace("http:", "https:"));
    expect(error.message).toMatch(/^token request failed: TLS failure with 127\.0\.0\.1:\d+/);
  });

  it("discovery names the cause too", async () => {
    const port = await closedPort();
    const client = new ClientCredentialsClient({
      issuer: `http://127.0.0.1:${port}`,
      clientId: "network-client",
      clientSecret: SECRET,
      retry: false,
    });
    const error = await client.getToken().catch((e: unknown) => e);
    expect((error as Error).message).toContain(`connection refused by 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });
});
