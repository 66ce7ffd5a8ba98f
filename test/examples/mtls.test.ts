/**
 * examples/mtls-client and examples/mtls-api as child processes: the client gets a certificate-bound
 * token from oidc-provider's mTLS alias endpoint (HTTPS, test CA) and calls the API over mutual TLS;
 * the API also runs behind a "TLS-terminating proxy" with the certificate in a header.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient } from "../../src/index.js";
import { createNodeFetch } from "../../src/node/index.js";
import { createTestPki, type TestPki } from "../support/certs.js";
import { ensureBuilt } from "../support/fleet.js";
import { type RunningProvider, startMtlsProvider } from "../support/oidc.js";
import { type Started, startProcess } from "../support/process.js";

const root = resolve(import.meta.dirname, "../..");
const TSX = join(root, "node_modules/.bin/tsx");
const API = "https://api.example.com";
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];
const env = (extra: Record<string, string>) => ({
  ...Object.fromEntries(PROXY_ENV.map((name) => [name, ""])),
  ...extra,
});

let pki: TestPki;
let as: RunningProvider;
let dir: string;
let httpsApi: Started;
let headerApi: Started;
const file = (name: string) => join(dir, name);

function example(script: string, extra: Record<string, string>, ready: RegExp) {
  return startProcess(TSX, ["--tsconfig", "examples/tsconfig.json", script], {
    cwd: root,
    env: env(extra),
    ready,
    timeoutMs: 100_000,
  });
}

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), "m2m-mtls-example-"));
  pki = await createTestPki();
  await Promise.all([
    writeFile(file("ca.pem"), pki.ca.cert),
    writeFile(file("server.pem"), pki.server.cert),
    writeFile(file("server.key"), pki.server.key, { mode: 0o600 }),
    writeFile(file("client.pem"), pki.client.cert),
    writeFile(file("client.key"), pki.client.key, { mode: 0o600 }),
    writeFile(file("sensor.pem"), pki.selfSigned.cert),
    writeFile(file("sensor.key"), pki.selfSigned.key, { mode: 0o600 }),
  ]);
  as = await startMtlsProvider(pki);
  const apiEnv = { ISSUER: as.issuer, AUDIENCE: API, CA_FILE: file("ca.pem"), PORT: "0" };
  [httpsApi, headerApi] = await Promise.all([
    example(
      "examples/mtls-api/server.ts",
      { ...apiEnv, TLS_CERT_FILE: file("server.pem"), TLS_KEY_FILE: file("server.key") },
      /listening on (https:\/\/\S+)/,
    ),
    example(
      "examples/mtls-api/server.ts",
      { ...apiEnv, CLIENT_CERT_HEADER: "client-cert" },
      /listening on (http:\/\/\S+)/,
    ),
  ]);
}, 150_000);

afterAll(async () => {
  await Promise.all([httpsApi?.stop(), headerApi?.stop()]);
  await as?.close();
  await rm(dir, { recursive: true, force: true });
});

async function runClient(clientId: string, name: string, authMethod: string) {
  const run = await example(
    "examples/mtls-client/index.ts",
    {
      ISSUER: as.issuer,
      CLIENT_ID: clientId,
      AUTH_METHOD: authMethod,
      AUDIENCE: API,
      CA_FILE: file("ca.pem"),
      CERT_FILE: file(`${name}.pem`),
      KEY_FILE: file(`${name}.key`),
      API_URL: `${httpsApi.match[1]}/data`,
    },
    /GET \S+: (\d+) (.*)\n|failed: .*\n/,
  );
  await run.stop();
  return run;
}

describe("mutual TLS examples", { timeout: 150_000 }, () => {
  it("examples/mtls-client gets a bound token with tls_client_auth and calls examples/mtls-api → 200", async () => {
    const before = as.tokenRequests;
    const run = await runClient("orders-job", "client", "tls_client_auth");
    expect(run.output()).toContain("token fetched in");
    expect(run.match[1]).toBe("200");
    expect(JSON.parse(run.match[2] as string)).toEqual({ client: "orders-job" });
    expect(as.tokenRequests).toBe(before + 1);
    expect(run.output()).not.toContain("PRIVATE KEY");
  });

  it("self_signed_tls_client_auth works the same way", async () => {
    const run = await runClient("sensor-42", "sensor", "self_signed_tls_client_auth");
    expect(run.match[1]).toBe("200");
    expect(JSON.parse(run.match[2] as string)).toEqual({ client: "sensor-42" });
  });

  it("examples/mtls-api refuses the bound token with another certificate or none (401), over TLS and behind a proxy header", async () => {
    const transport = createNodeFetch({
      proxy: false,
      ca: pki.ca.cert,
      cert: pki.client.cert,
      key: pki.client.key,
    });
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "orders-job",
      defaultAudience: API,
      fetch: transport,
    });
    const token = (await client.getToken()).accessToken;
    await client.close();
    const other = createNodeFetch({
      proxy: false,
      ca: pki.ca.cert,
      cert: pki.otherClient.cert,
      key: pki.otherClient.key,
    });
    const none = createNodeFetch({ proxy: false, ca: pki.ca.cert });
    try {
      const get = (fetch: typeof none, url: string, headers: Record<string, string> = {}) =>
        fetch(`${url}/data`, { headers: { authorization: `Bearer ${token}`, ...headers } }).then(
          (r) => r.status,
        );
      const tls = httpsApi.match[1] as string;
      expect(await get(transport, tls)).toBe(200);
      expect(await get(other, tls)).toBe(401);
      expect(await get(none, tls)).toBe(401);

      const behindProxy = headerApi.match[1] as string;
      const header = (der: Buffer) => ({ "client-cert": `:${der.toString("base64")}:` });
      expect(await get(none, behindProxy, header(pki.client.der))).toBe(200);
      expect(await get(none, behindProxy, header(pki.otherClient.der))).toBe(401);
      expect(await get(none, behindProxy)).toBe(401);
    } finally {
      await Promise.all([transport.close(), other.close(), none.close()]);
    }
  });
});
