/**
 * `ca` adds to the roots Node trusts, NODE_EXTRA_CA_CERTS included, on every supported Node (the
 * suite runs on Node 20 and 24, whose `tls` lists those roots differently). A child process started
 * with NODE_EXTRA_CA_CERTS reaches, through one createNodeFetch({ ca }), an HTTPS server signed by
 * the extra CA and one signed by the `ca` CA; so does the `m2m` command with --ca.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestCert, type TestPki } from "../support/certs.js";
import { ensureBuilt } from "../support/fleet.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

const root = resolve(import.meta.dirname, "../..");
const CHILD = join(root, "test/node/extra-ca-child.mjs");
const BIN = join(root, "dist/cli/bin.js");
const run = promisify(execFile);
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !PROXY_ENV.includes(name)));

let pki: TestPki;
let dir: string;
let extraSigned: { url: string; close: () => Promise<void> }; // signed by the NODE_EXTRA_CA_CERTS CA
let caSigned: { url: string; close: () => Promise<void> }; // signed by the CA given as `ca`
let issuer: RunningProvider; // an authorization server signed by the NODE_EXTRA_CA_CERTS CA
const file = (name: string) => join(dir, name);

async function httpsServer(cert: TestCert, body: string) {
  const server = createServer({ cert: cert.cert, key: cert.key }, (_request, response) => {
    response.end(body);
  });
  const { url, close } = await listen(server as never);
  return { url: url.replace("http:", "https:"), close };
}

beforeAll(async () => {
  await ensureBuilt();
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "m2m-extra-ca-"));
  await Promise.all([
    writeFile(file("extra.pem"), pki.ca.cert),
    writeFile(file("private.pem"), pki.strangerCa.cert),
  ]);
  extraSigned = await httpsServer(pki.server, "extra");
  caSigned = await httpsServer(pki.strangerServer, "private");
  issuer = await startProvider({ https: { cert: pki.server.cert, key: pki.server.key } });
}, 120_000);
afterAll(async () => {
  await Promise.all([extraSigned?.close(), caSigned?.close(), issuer?.close()]);
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  ...baseEnv,
  NODE_EXTRA_CA_CERTS: file("extra.pem"),
  NO_COLOR: "1",
  ...extra,
});

describe(`NODE_EXTRA_CA_CERTS with ca, on Node ${process.version}`, { timeout: 60_000 }, () => {
  it("one createNodeFetch({ ca }) trusts both the extra CA and the ca CA", async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [CHILD, file("private.pem"), `${extraSigned.url}/`, `${caSigned.url}/`],
      { env: env() },
    );
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toEqual({
      [`${extraSigned.url}/`]: "200 extra",
      [`${caSigned.url}/`]: "200 private",
    });
  });

  it("without NODE_EXTRA_CA_CERTS the same process refuses the first server: only the variable trusts it", async () => {
    const { stdout } = await run(
      process.execPath,
      [CHILD, file("private.pem"), `${extraSigned.url}/`, `${caSigned.url}/`],
      { env: { ...baseEnv } },
    );
    expect(JSON.parse(stdout)).toEqual({
      [`${extraSigned.url}/`]: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      [`${caSigned.url}/`]: "200 private",
    });
  });

  it("m2m token --ca reaches an issuer signed by the extra CA", async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        BIN,
        "token",
        "--issuer",
        issuer.issuer,
        "--client-id",
        "basic-client",
        "--client-secret-env",
        "SECRET",
        "--audience",
        "https://api.example.com",
        "--ca",
        file("private.pem"),
      ],
      { env: env({ SECRET: ODD_SECRET }) },
    ).catch((error: { stdout: string; stderr: string }) => error);
    expect(stderr).toBe("");
    expect(decodeJwt(stdout.trim()).client_id).toBe("basic-client");
  });
});
