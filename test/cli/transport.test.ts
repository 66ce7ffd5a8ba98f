/**
 * `m2m token` and `m2m verify` as child processes on m2m-kit/node's transport: an HTTPS issuer signed
 * by a test CA (--ca), mutual TLS against oidc-provider's mTLS alias endpoint (--cert, --key), a real
 * forward proxy from the environment and from --proxy, with and without credentials (from the
 * environment or a file, never from the command line). The proxy password is never printed, not
 * even with --debug.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../support/certs.js";
import { ensureBuilt } from "../support/fleet.js";
import { ODD_SECRET, type RunningProvider, startMtlsProvider, startProvider } from "../support/oidc.js";
import { type RunningProxy, startProxy } from "../support/proxy.js";

const root = resolve(import.meta.dirname, "../..");
const BIN = join(root, "dist/cli/bin.js");
const API = "https://api.example.com";
const PROXY_PASSWORD = "cli-pr0xy-pa55word";
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];
/** This process's environment without proxy variables (lower-case names would win over the test's). */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !PROXY_ENV.includes(name)));

let pki: TestPki;
let mtlsAs: RunningProvider; // https, certificate from the test CA, mTLS alias endpoint
let plainAs: RunningProvider; // http on loopback
let proxy: RunningProxy;
let authProxy: RunningProxy;
let dir: string;
const file = (name: string) => join(dir, name);

function m2m(args: string[], env: Record<string, string> = {}) {
  const child = execFile(process.execPath, [BIN, ...args], {
    env: { ...baseEnv, ...env, NO_COLOR: "1", SECRET: ODD_SECRET },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    child.once("close", (code) => done({ code: code ?? -1, stdout, stderr })),
  );
}

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), "m2m-cli-tls-"));
  pki = await createTestPki();
  await Promise.all([
    writeFile(file("ca.pem"), pki.ca.cert),
    writeFile(file("client.pem"), pki.client.cert),
    writeFile(file("client.key"), pki.client.key, { mode: 0o600 }),
    writeFile(file("sensor.pem"), pki.selfSigned.cert),
    writeFile(file("sensor.key"), pki.selfSigned.key, { mode: 0o600 }),
  ]);
  mtlsAs = await startMtlsProvider(pki, [
    {
      client_id: "basic-client",
      client_secret: ODD_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
    },
  ]);
  plainAs = await startProvider();
  proxy = await startProxy();
  authProxy = await startProxy({ username: "svc-proxy", password: PROXY_PASSWORD });
}, 120_000);
afterEach(() => {
  proxy.log.length = 0;
  authProxy.log.length = 0;
});
afterAll(async () => {
  await Promise.all([mtlsAs?.close(), plainAs?.close(), proxy?.close(), authProxy?.close()]);
  await rm(dir, { recursive: true, force: true });
});

const secretArgs = ["--client-id", "basic-client", "--client-secret-env", "SECRET", "--audience", API];

describe("m2m token and m2m verify on m2m-kit/node's transport", { timeout: 120_000 }, () => {
  it("--ca: an HTTPS issuer signed by a private CA works with it, and is refused without it", async () => {
    const trusted = await m2m(["token", "--issuer", mtlsAs.issuer, ...secretArgs, "--ca", file("ca.pem")]);
    expect(trusted.stderr).toBe("");
    expect(trusted.code).toBe(0);
    const token = trusted.stdout.trim();
    expect(decodeJwt(token).client_id).toBe("basic-client");

    const verified = await m2m([
      "verify",
      token,
      "--issuer",
      mtlsAs.issuer,
      "--audience",
      API,
      "--ca",
      file("ca.pem"),
    ]);
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.stdout).toMatch(/^valid: client basic-client/);

    const untrusted = await m2m(["token", "--issuer", mtlsAs.issuer, ...secretArgs]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^m2m token: ERR_DISCOVERY: discovery of https:\/\/127\.0\.0\.1:\d+ failed/,
    );
    const unverified = await m2m(["verify", token, "--issuer", mtlsAs.issuer, "--audience", API]);
    expect(unverified.code).toBe(1);
    expect(unverified.stdout).toMatch(/^invalid: ERR_VERIFIER_UNAVAILABLE/);
  });

  it("--cert/--key: tls_client_auth and self_signed_tls_client_auth get certificate-bound tokens", async () => {
    for (const [clientId, name, thumbprint] of [
      ["orders-job", "client", pki.client.thumbprint],
      ["sensor-42", "sensor", pki.selfSigned.thumbprint],
    ] as const) {
      const before = mtlsAs.tokenRequests;
      const result = await m2m([
        "token",
        "--issuer",
        mtlsAs.issuer,
        "--client-id",
        clientId,
        "--audience",
        API,
        "--ca",
        file("ca.pem"),
        "--cert",
        file(`${name}.pem`),
        "--key",
        file(`${name}.key`),
        "--json",
      ]);
      expect(result.stderr, clientId).toBe("");
      expect(result.code).toBe(0);
      const out = JSON.parse(result.stdout);
      expect(decodeJwt(out.access_token)).toMatchObject({
        client_id: clientId,
        cnf: { "x5t#S256": thumbprint },
      });
      expect(mtlsAs.tokenRequests).toBe(before + 1);
    }
  });

  it("--cert without --key, or a key that does not fit, is a usage error that shows no key", async () => {
    const noKey = await m2m([
      "token",
      "--issuer",
      mtlsAs.issuer,
      "--client-id",
      "x",
      "--cert",
      file("client.pem"),
    ]);
    expect(noKey).toMatchObject({ code: 2 });
    expect(noKey.stderr).toBe("m2m token: --cert needs --key (its private key)\n");
    const mismatch = await m2m([
      "token",
      "--issuer",
      mtlsAs.issuer,
      "--client-id",
      "x",
      "--cert",
      file("client.pem"),
      "--key",
      file("sensor.key"),
    ]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/^m2m token: --cert\/--key could not be loaded/);
    expect(mismatch.stderr).not.toContain("PRIVATE KEY");
  });

  it("uses HTTP_PROXY / HTTPS_PROXY from the environment, and NO_PROXY bypasses it", async () => {
    const plainHost = new URL(plainAs.issuer).host;
    const viaHttp = await m2m(["token", "--issuer", plainAs.issuer, ...secretArgs], {
      HTTP_PROXY: proxy.url,
    });
    expect(viaHttp.code).toBe(0);
    expect(proxy.log.map(({ method, target }) => `${method} ${target}`)).toEqual([
      `GET http://${plainHost}/.well-known/openid-configuration`,
      `POST http://${plainHost}/token`,
    ]);
    proxy.log.length = 0;

    const verified = await m2m(
      ["verify", viaHttp.stdout.trim(), "--issuer", plainAs.issuer, "--audience", API],
      { http_proxy: proxy.url },
    );
    expect(verified.code).toBe(0);
    expect(proxy.log.map(({ method, target }) => `${method} ${target}`)).toContain(
      `GET http://${plainHost}/jwks`,
    );
    proxy.log.length = 0;

    const tlsHost = new URL(mtlsAs.issuer).host;
    const viaConnect = await m2m(
      ["token", "--issuer", mtlsAs.issuer, ...secretArgs, "--ca", file("ca.pem")],
      {
        HTTPS_PROXY: proxy.url,
      },
    );
    expect(viaConnect.code).toBe(0);
    expect(proxy.log.length).toBeGreaterThanOrEqual(1);
    expect(proxy.log.every((entry) => entry.method === "CONNECT" && entry.target === tlsHost)).toBe(true);
    proxy.log.length = 0;

    const bypassed = await m2m(["token", "--issuer", plainAs.issuer, ...secretArgs], {
      HTTP_PROXY: proxy.url,
      NO_PROXY: "127.0.0.1",
    });
    expect(bypassed.code).toBe(0);
    expect(proxy.log).toEqual([]);
  });

  it("--proxy with credentials in it is refused with what to do instead, without echoing them or sending anything", async () => {
    for (const value of [
      authProxy.urlWithCredentials,
      authProxy.urlWithCredentials.replace(/\/\/[^@]*@/, `//${PROXY_PASSWORD}@`), // a token as the user name
      authProxy.urlWithCredentials.replace(/^http:\/\//, ""), // without a scheme, as curl takes it
      `${PROXY_PASSWORD}@${new URL(authProxy.url).host}`, // a token alone, without a scheme
    ]) {
      for (const command of [
        ["token", "--issuer", mtlsAs.issuer, ...secretArgs],
        ["verify", "a.b.c", "--issuer", mtlsAs.issuer, "--audience", API],
      ]) {
        const refused = await m2m([...command, "--ca", file("ca.pem"), "--proxy", value, "--debug"]);
        expect(refused.code).toBe(2);
        // --debug adds the stack, which repeats the message only.
        expect(refused.stderr).not.toContain(PROXY_PASSWORD);
        expect(refused.stderr.split("\n")[0]).toBe(
          `m2m ${command[0]}: --proxy must not hold credentials: every user of this machine can read a command line. Give --proxy http://host:port with --proxy-user NAME and the password in an environment variable (--proxy-password-env VAR) or a file (--proxy-password-file FILE), or set HTTPS_PROXY / HTTP_PROXY to the proxy URL with its credentials`,
        );
        expect(refused.stdout).toBe("");
      }
    }
    expect(authProxy.log).toEqual([]);
  });

  it("--proxy-user with the password from --proxy-password-env or --proxy-password-file authenticates to the proxy", async () => {
    await writeFile(file("proxy-password"), `${PROXY_PASSWORD}\n`, { mode: 0o600 });
    const proxyUrl = authProxy.url;
    const results: string[] = [];
    for (const [args, env] of [
      [["--proxy-password-env", "PROXY_PASSWORD"], { PROXY_PASSWORD }],
      [["--proxy-password-file", file("proxy-password")], {}],
    ] as const) {
      authProxy.log.length = 0;
      const good = await m2m(
        [
          "token",
          "--issuer",
          mtlsAs.issuer,
          ...secretArgs,
          "--ca",
          file("ca.pem"),
          "--proxy",
          proxyUrl,
          "--proxy-user",
          "svc-proxy",
          ...args,
        ],
        env,
      );
      expect(good.stderr).toBe("");
      expect(good.code).toBe(0);
      expect(authProxy.log.length).toBeGreaterThanOrEqual(1);
      expect(authProxy.log.every((entry) => entry.method === "CONNECT" && entry.allowed)).toBe(true);
      results.push(good.stdout.trim());
    }

    authProxy.log.length = 0;
    const verified = await m2m(
      [
        "verify",
        results[0] as string,
        "--issuer",
        mtlsAs.issuer,
        "--audience",
        API,
        "--ca",
        file("ca.pem"),
        "--proxy",
        proxyUrl,
        "--proxy-user",
        "svc-proxy",
        "--proxy-password-env",
        "PROXY_PASSWORD",
      ],
      { PROXY_PASSWORD },
    );
    expect(verified.code).toBe(0);
    expect(authProxy.log.every((entry) => entry.method === "CONNECT" && entry.allowed)).toBe(true);
  });

  it("HTTPS_PROXY with credentials authenticates; a wrong password, from it or --proxy-password-env, fails once and is not printed", async () => {
    authProxy.log.length = 0;
    const good = await m2m(["token", "--issuer", mtlsAs.issuer, ...secretArgs, "--ca", file("ca.pem")], {
      HTTPS_PROXY: authProxy.urlWithCredentials,
    });
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    expect(authProxy.log.every((entry) => entry.method === "CONNECT" && entry.allowed)).toBe(true);

    const wrong = authProxy.urlWithCredentials.replace(encodeURIComponent(PROXY_PASSWORD), "wr0ng-Pa55");
    for (const [args, env] of [
      [
        ["--proxy", authProxy.url, "--proxy-user", "svc-proxy", "--proxy-password-env", "PROXY_PASSWORD"],
        { PROXY_PASSWORD: "wr0ng-Pa55" },
      ],
      [[], { HTTPS_PROXY: wrong }],
    ] as const) {
      authProxy.log.length = 0;
      const refused = await m2m(
        [
          "token",
          "--token-endpoint",
          `${mtlsAs.issuer}/token`,
          ...secretArgs,
          "--ca",
          file("ca.pem"),
          "--debug",
          ...args,
        ],
        env,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        "m2m token: ERR_TOKEN_REQUEST: token request failed: the proxy refused authentication (407 Proxy Authentication Required)",
      );
      const printed = refused.stdout + refused.stderr;
      expect(printed).not.toContain(PROXY_PASSWORD);
      expect(printed).not.toContain("wr0ng-Pa55");
      expect(printed).not.toContain(ODD_SECRET);
      // Not transient: one refused CONNECT, no retry.
      expect(authProxy.log.filter((entry) => !entry.allowed)).toHaveLength(1);
    }
  });

  it("proxy credential options used wrongly are usage errors that repeat no value", async () => {
    const base = ["token", "--issuer", plainAs.issuer, ...secretArgs];
    const cases: Array<[string[], Record<string, string>, string]> = [
      [
        ["--proxy-user", "svc-proxy", "--proxy-password-env", "PROXY_PASSWORD"],
        { PROXY_PASSWORD },
        "--proxy-user, --proxy-password-env and --proxy-password-file go with --proxy (a proxy from HTTPS_PROXY / HTTP_PROXY carries its own credentials)",
      ],
      [
        ["--proxy", proxy.url, "--proxy-user", "svc-proxy"],
        {},
        "--proxy-user needs the password: --proxy-password-env VAR or --proxy-password-file FILE",
      ],
      [
        ["--proxy", proxy.url, "--proxy-user", `svc-proxy:${PROXY_PASSWORD}`],
        {},
        "--proxy-user is the user name alone (no colon); the password goes in --proxy-password-env or --proxy-password-file",
      ],
      [
        ["--proxy", proxy.url, "--proxy-password-env", "PROXY_PASSWORD"],
        { PROXY_PASSWORD },
        "--proxy-password-env and --proxy-password-file need --proxy-user (the user name)",
      ],
      [
        ["--proxy", proxy.url, "--proxy-user", "svc-proxy", "--proxy-password-env", PROXY_PASSWORD],
        {},
        "--proxy-password-env: the environment variable it names is not set or empty (pass the variable's name, not the password)",
      ],
      [
        ["--proxy", proxy.url, "--proxy-user", "svc-proxy", "--proxy-password-file", PROXY_PASSWORD],
        {},
        "--proxy-password-file: the file cannot be read (ENOENT)",
      ],
    ];
    for (const [args, env, message] of cases) {
      const result = await m2m([...base, ...args], env);
      expect(result.code, message).toBe(2);
      expect(result.stderr).toBe(`m2m token: ${message}\n`);
    }
    expect(proxy.log).toEqual([]);
  });

  it("a --proxy that is not a URL is a usage error that does not echo it", async () => {
    const result = await m2m([
      "token",
      "--issuer",
      plainAs.issuer,
      ...secretArgs,
      "--proxy",
      `not a url ${PROXY_PASSWORD}`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('m2m token: --proxy must be "env", false or an http(s) proxy URL\n');
  });

  it.each(["HTTPS_PROXY", "http_proxy"])(
    "a malformed %s is a usage error naming the variable, without its value",
    async (name) => {
      const result = await m2m(["token", "--issuer", plainAs.issuer, ...secretArgs], {
        [name]: `http://user:${PROXY_PASSWORD}@[not-a-host`,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`m2m token: ${name} is not a valid proxy URL (http://host:port)\n`);
    },
  );
});
