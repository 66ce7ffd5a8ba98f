/**
 * The `m2m` command as a child process (dist/cli/bin.js) against a dev server: secrets never echoed,
 * --version, --json, what verify shows on a mismatch, "Bearer …" pasted whole, --allow-insecure-http,
 * --debug's cause chain, and the dev server leaving the host process's console alone.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/dev-server/index.js";
import { ClientCredentialsClient } from "../../src/index.js";

const root = resolve(import.meta.dirname, "../..");
const BIN = join(root, "dist/cli/bin.js");
const API = "https://api.example.com";
const SECRET = "cli-test-secret-value";
let dev: DevServer;
let jwt: string;
let dir: string;
let consoleBefore: [unknown, unknown];

async function m2m(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = execFile(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env, NO_COLOR: "1" },
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "m2m-cli-"));
  consoleBefore = [console.warn, console.info];
  dev = await startDevServer({
    config: {
      apis: [{ identifier: API, scopes: ["read:data", "write:data"] }],
      apps: [{ clientId: "job", clientSecret: SECRET, grants: { [API]: ["read:data"] } }],
    },
  });
  const client = new ClientCredentialsClient({ issuer: dev.issuer, clientId: "job", clientSecret: SECRET });
  jwt = (await client.getToken({ audience: API })).accessToken;
  await client.close();
}, 60_000);

afterAll(async () => {
  await dev?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("m2m", { timeout: 120_000 }, () => {
  it("startDevServer leaves the host process's console alone", () => {
    expect([console.warn, console.info]).toEqual(consoleBefore);
  });

  it("--version prints the package version", async () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    const result = await m2m(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it("never echoes a value given to a secret option, wherever it lands", async () => {
    const cases = [
      ["--client-secret-env", SECRET],
      ["--client-secret-file", SECRET],
      ["--private-key-file", SECRET],
      ["--client-secret-env", "MY_VAR", SECRET], // an extra word: a positional
      [`--client-secret=${SECRET}`], // an option that does not exist, with the secret inline
    ];
    for (const extra of cases) {
      const result = await m2m(["token", "--issuer", dev.issuer, "--client-id", "job", ...extra]);
      expect(result.code, extra.join(" ")).toBe(2);
      expect(result.stderr.length).toBeGreaterThan(0);
      expect(`${result.stdout}${result.stderr}`, extra.join(" ")).not.toContain(SECRET);
    }
    const unset = await m2m([
      "token",
      "--issuer",
      dev.issuer,
      "--client-id",
      "job",
      "--client-secret-env",
      SECRET,
    ]);
    expect(unset.stderr).toContain("the environment variable it names is not set or empty");
  });

  it("decode --json keeps numeric times numeric and adds ISO strings", async () => {
    const result = await m2m(["decode", jwt, "--json"]);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(typeof out.claims.exp).toBe("number");
    expect(out.times.exp).toBe(new Date(out.claims.exp * 1000).toISOString());
    expect(out.header.typ).toBe("at+jwt");
    expect(out.expiresInSeconds).toBeGreaterThan(0);
  });

  it('verify takes "Bearer <token>" as pasted from a header, and --json', async () => {
    const result = await m2m([
      "verify",
      `Bearer ${jwt}`,
      "--issuer",
      dev.issuer,
      "--audience",
      API,
      "--json",
    ]);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ valid: true, clientId: "job", scopes: ["read:data"] });
    expect(typeof out.expiresAt).toBe("number");
    expect(out.expiresAtIso).toBe(new Date(out.expiresAt).toISOString());
    const piped = await m2m(
      ["verify", "-", "--issuer", dev.issuer, "--audience", API],
      {},
      `bearer ${jwt}\n`,
    );
    expect(piped.code).toBe(0);
  });

  it("verify accepts a DPoP-bound token and says that each request must prove the binding", async () => {
    const bound = new ClientCredentialsClient({
      issuer: dev.issuer,
      clientId: "job",
      clientSecret: SECRET,
      dpop: true,
    });
    const token = (await bound.getToken({ audience: API })).accessToken;
    await bound.close();
    const result = await m2m(["verify", token, "--issuer", dev.issuer, "--audience", API]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^valid: client job, scopes \[read:data\], expires \S+, bound to a DPoP key \(jkt\): each request must prove it\n$/,
    );
  });

  it("verify shows the token's own iss and aud when they do not match", async () => {
    const audience = await m2m([
      "verify",
      jwt,
      "--issuer",
      dev.issuer,
      "--audience",
      "https://other.example.com",
    ]);
    expect(audience.code).toBe(1);
    expect(audience.stdout).toContain("ERR_JWT_AUDIENCE");
    expect(audience.stdout).toContain(`the token's aud: "${API}"`);
    const slash = await m2m(["verify", jwt, "--issuer", `${dev.issuer}/`, "--audience", API]);
    expect(slash.code).toBe(1);
    expect(slash.stdout).toContain(`the token's iss: "${dev.issuer}"`);
    expect(slash.stdout).toContain("they differ only by a trailing slash");
    const json = await m2m([
      "verify",
      jwt,
      "--issuer",
      dev.issuer,
      "--audience",
      "https://other.example.com",
      "--json",
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: false,
      code: "ERR_JWT_AUDIENCE",
      token: { aud: API },
    });
  });

  it("an http: URL off loopback is refused with a hint to --allow-insecure-http, which accepts it", async () => {
    // 0.0.0.0 is not a loopback name, but on Linux a connection to it reaches this host.
    const jwksUri = `${dev.jwksUri.replace("127.0.0.1", "0.0.0.0")}`;
    const refused = await m2m([
      "verify",
      jwt,
      "--issuer",
      dev.issuer,
      "--audience",
      API,
      "--jwks-uri",
      jwksUri,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("pass --allow-insecure-http");
    const allowed = await m2m([
      "verify",
      jwt,
      "--issuer",
      dev.issuer,
      "--audience",
      API,
      "--jwks-uri",
      jwksUri,
      "--allow-insecure-http",
    ]);
    expect(allowed.stdout).toMatch(/^valid: client job/);
    expect(allowed.code).toBe(0);
  });

  it("--debug prints the chain of causes of a network error; without it, one line", async () => {
    const closed = await new Promise<number>((done) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => done(port));
      });
    });
    const args = [
      "token",
      "--token-endpoint",
      `http://127.0.0.1:${closed}/token`,
      "--client-id",
      "job",
      "--client-secret-env",
      "S",
    ];
    const plain = await m2m(args, { S: SECRET });
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split("\n")).toHaveLength(1);
    expect(plain.stderr).toMatch(/^m2m token: ERR_TOKEN_REQUEST: /);
    const debug = await m2m([...args, "--debug"], { S: SECRET });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
    expect(debug.stderr).toMatch(/\ncause: .*ECONNREFUSED/);
    expect(`${plain.stderr}${debug.stderr}`).not.toContain(SECRET);
  });
});
