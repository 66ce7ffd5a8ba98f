/**
 * `m2m token` with workload identity (dist/cli/bin.js as a child process, against a dev server):
 * `--assertion-file` authenticates with a platform token read from a file, `--subject-token-file` and
 * `--actor-token-file` exchange tokens (RFC 8693); assertions and tokens come from files only and are
 * never echoed, also when one is given in place of a path.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { ClientCredentialsClient } from "../../src/index.js";
import { createTestIssuer, type TestIssuer } from "../../src/testing/index.js";

const root = resolve(import.meta.dirname, "../..");
const BIN = join(root, "dist/cli/bin.js");
const ORDERS = "https://orders.example.com";
const GATEWAY = "https://gateway.example.com";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const SA = "system:serviceaccount:orders:worker";
let dev: DevServer;
let platform: TestIssuer;
let dir: string;

async function m2m(args: string[], options: { pipe?: { input: string; script: string } } = {}) {
  const { pipe } = options;
  // With a pipe, bash runs m2m as a user would: `… | m2m … /dev/stdin` or `m2m … <(…)`.
  const child = pipe
    ? execFile("bash", ["-c", pipe.script, "bash", process.execPath, BIN, ...args], {
        env: { ...process.env, NO_COLOR: "1" },
      })
    : execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: "1" } });
  if (pipe) child.stdin?.end(pipe.input);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number>((done) => child.once("close", (c) => done(c ?? -1)));
  return { code, stdout, stderr };
}

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${content}\n`, { mode: 0o600 });
  return path;
}

async function tokenOf(clientId: string): Promise<string> {
  const client = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId,
    clientSecret: `${clientId}-secret`,
  });
  const token = await client.getToken({ audience: GATEWAY });
  await client.close();
  return token.accessToken;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "m2m-cli-workload-"));
  platform = await createTestIssuer({ algorithm: "ES256" });
  dev = await startDevServer({
    keysPath: false,
    config: {
      apis: [
        { identifier: ORDERS, scopes: ["read:orders"] },
        { identifier: GATEWAY, scopes: ["call:gateway"] },
      ],
      apps: [
        {
          clientId: "workers",
          federated: [{ issuer: platform.issuer, subject: SA }],
          grants: { [ORDERS]: ["read:orders"] },
        },
        {
          clientId: "web-frontend",
          clientSecret: "web-frontend-secret",
          grants: { [GATEWAY]: ["call:gateway"] },
        },
        {
          clientId: "batch-agent",
          clientSecret: "batch-agent-secret",
          grants: { [GATEWAY]: ["call:gateway"] },
        },
        {
          clientId: "gateway",
          clientSecret: "gateway-secret",
          grantTypes: ["client_credentials", "token-exchange"],
          grants: { [ORDERS]: ["read:orders"] },
        },
      ],
    },
  });
}, 60_000);
afterAll(async () => {
  await Promise.all([dev?.close(), platform?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe("m2m token with workload identity", { timeout: 120_000 }, () => {
  it("--assertion-file: a token for the app, with no secret", async () => {
    const assertion = await platform.mint({ sub: SA, aud: dev.issuer }, { header: { typ: "JWT" } });
    const path = await file("sa-token", assertion);
    const result = await m2m([
      "token",
      "--issuer",
      dev.issuer,
      "--client-id",
      "workers",
      "--assertion-file",
      path,
      "--audience",
      ORDERS,
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(decodeJwt(result.stdout.trim())).toMatchObject({ client_id: "workers", aud: ORDERS });
    expect(result.stdout).not.toContain(assertion);
  });

  it("--assertion-file /dev/stdin or a shell's <(…): the token comes through a pipe, with no file on disk", async () => {
    const assertion = await platform.mint({ sub: SA, aud: dev.issuer }, { header: { typ: "JWT" } });
    const args = ["token", "--issuer", dev.issuer, "--client-id", "workers"];
    for (const script of ['cat | "$@" --assertion-file /dev/stdin', 'exec "$@" --assertion-file <(cat)']) {
      const result = await m2m(args, { pipe: { input: `${assertion}\n`, script } });
      expect(result.stderr, script).toBe("");
      expect(result.code, script).toBe(0);
      expect(decodeJwt(result.stdout.trim())).toMatchObject({ client_id: "workers", aud: ORDERS });
    }
    // A folder is no file: a usage error, before any request.
    const folder = await m2m([...args, "--assertion-file", dir]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toBe("m2m token: --assertion-file: the file cannot be read (EISDIR)\n");
  });

  it("an expired assertion: exit 1, ERR_CLIENT_ASSERTION naming the option, never the token or the path", async () => {
    const assertion = await platform.mint({ sub: SA, aud: dev.issuer }, { expiresInSeconds: -30 });
    const path = await file("expired-token", assertion);
    const result = await m2m([
      "token",
      "--issuer",
      dev.issuer,
      "--client-id",
      "workers",
      "--assertion-file",
      path,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^m2m token: ERR_CLIENT_ASSERTION: client_assertion from --assertion-file has expired/,
    );
    expect(result.stderr).not.toContain(assertion);
    expect(result.stderr).not.toContain(path);
  });

  it("a token given in place of a path, or inline, is never echoed", async () => {
    const assertion = await platform.mint({ sub: SA, aud: dev.issuer });
    for (const args of [
      ["--assertion-file", assertion],
      [`--assertion=${assertion}`],
      ["--subject-token-file", assertion],
    ]) {
      const result = await m2m(["token", "--issuer", dev.issuer, "--client-id", "gateway", ...args]);
      expect(result.code, args[0]).toBe(2);
      expect(`${result.stdout}${result.stderr}`).not.toContain(assertion.slice(-30));
    }
  });

  it("--subject-token-file and --actor-token-file: token exchange with delegation", async () => {
    const subject = await file("subject", await tokenOf("web-frontend"));
    const actor = await file("actor", await tokenOf("batch-agent"));
    const secret = await file("secret", "gateway-secret");
    const result = await m2m([
      "token",
      "--issuer",
      dev.issuer,
      "--client-id",
      "gateway",
      "--client-secret-file",
      secret,
      "--subject-token-file",
      subject,
      "--actor-token-file",
      actor,
      "--actor-token-type",
      ACCESS_TOKEN,
      "--audience",
      ORDERS,
      "--json",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as { access_token: string; issued_token_type: string };
    expect(json.issued_token_type).toBe(ACCESS_TOKEN);
    expect(decodeJwt(json.access_token)).toMatchObject({ sub: "web-frontend", act: { sub: "batch-agent" } });
  });

  it("usage errors: an actor without its type, exchange options without a subject, two credentials", async () => {
    const token = await file("t", "x.y.z");
    const secret = await file("s", "gateway-secret");
    const base = ["token", "--issuer", dev.issuer, "--client-id", "gateway"];
    const cases: Array<[string[], string]> = [
      [
        ["--client-secret-file", secret, "--subject-token-file", token, "--actor-token-file", token],
        "--actor-token-type is required with --actor-token-file (RFC 8693 §2.1)",
      ],
      [
        ["--client-secret-file", secret, "--requested-token-type", ACCESS_TOKEN],
        "--requested-token-type needs --subject-token-file (token exchange)",
      ],
      [
        ["--client-secret-file", secret, "--assertion-file", token],
        "give one of --client-secret-env, --client-secret-file, --private-key-file or --assertion-file",
      ],
      [
        ["--client-secret-file", secret, "--assertion-type", "jwt-spiffe"],
        "--assertion-type needs --assertion-file",
      ],
    ];
    for (const [extra, message] of cases) {
      const result = await m2m([...base, ...extra]);
      expect(result.code, message).toBe(2);
      expect(result.stderr.trim()).toBe(`m2m token: ${message}`);
    }
  });
});
