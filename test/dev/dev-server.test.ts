/**
 * `m2m dev` as a child process with a sample configuration, used through `m2m token`, `m2m verify`
 * and the library; bad configurations exit 2 naming the problem.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDevConfig } from "../../src/dev-server/index.js";
import { ClientCredentialsClient, createVerifier, OAuthError } from "../../src/index.js";
import { ensureCurl } from "../support/curl.js";
import { type Started, startProcess } from "../support/process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const BIN = join(root, "dist/cli/bin.js");
const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
let dir: string;
let dev: Started;
let issuer: string;
let appKey: CryptoKeyPair;

async function config(overrides: Record<string, unknown> = {}) {
  appKey = appKey ?? (await generateKeyPair("ES256", { extractable: true }));
  return {
    apis: [
      {
        identifier: ORDERS,
        name: "Orders",
        scopes: ["read:orders", "write:orders"],
        tokenLifetimeSeconds: 600,
      },
      { identifier: BILLING, scopes: ["read:invoices"], signingAlg: "ES256" },
    ],
    apps: [
      {
        name: "Reporter",
        clientId: "reporter",
        clientSecret: "s3cr+t/with=odd:chars%&",
        grants: { [ORDERS]: ["read:orders"], [BILLING]: ["read:invoices"] },
      },
      {
        clientId: "writer",
        clientSecret: "writer-secret",
        authMethod: "client_secret_post",
        grants: { [ORDERS]: ["read:orders", "write:orders"] },
      },
      {
        clientId: "keyed",
        jwks: { keys: [{ ...(await exportJWK(appKey.publicKey)), kid: "k1", alg: "ES256" }] },
        grants: { [ORDERS]: ["read:orders"] },
      },
      {
        clientId: "retired",
        clientSecret: "retired-secret",
        enabled: false,
        grants: { [ORDERS]: ["read:orders"] },
      },
      {
        clientId: "bound",
        clientSecret: "bound-secret",
        dpop: true,
        grants: { [ORDERS]: ["read:orders"] },
      },
    ],
    ...overrides,
  };
}

async function m2m(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env, NO_COLOR: "1" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function startDev(configPath: string): Promise<Started> {
  return startProcess(process.execPath, [BIN, "dev", "--config", configPath, "--port", "0"], {
    ready: /issuer:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*ready/,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "m2m-dev-"));
  await writeFile(join(dir, "m2m.dev.json"), JSON.stringify(await config(), null, 2));
  dev = await startDev(join(dir, "m2m.dev.json"));
  issuer = dev.match[1] as string;
}, 60_000);

afterAll(async () => {
  await dev?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("m2m dev", () => {
  it("prints the issuer, the token URL and a curl line per app, and creates a keys file", () => {
    const out = dev.output();
    expect(out).toContain(`token URL:  ${issuer}/token`);
    expect(out).not.toContain("<secret>");
    for (const secret of ["s3cr+t/with=odd:chars%&", "writer-secret", "retired-secret"]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain("app retired (retired) — disabled");
    expect(out).toMatch(/created .*m2m\.dev\.keys\.json: keep it out of version control/);
    expect(existsSync(join(dir, "m2m.dev.keys.json"))).toBe(true);
    expect(out).not.toContain("oidc-provider WARNING");
  });

  it("every printed curl line gets a token when pasted into a shell", async () => {
    await ensureCurl();
    const lines = dev
      .output()
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.startsWith("curl "));
    // reporter (Basic, a secret that needs form-encoding) for two APIs, writer (client_secret_post).
    expect(lines).toHaveLength(3);
    const seen: Array<[unknown, unknown]> = [];
    for (const line of lines) {
      const { stdout } = await run("sh", ["-c", line], { cwd: tmpdir() });
      const claims = decodeJwt(JSON.parse(stdout).access_token);
      seen.push([claims.client_id, claims.aud]);
    }
    expect(seen).toEqual([
      ["reporter", ORDERS],
      ["reporter", BILLING],
      ["writer", ORDERS],
    ]);
  });

  it("an app with dpop: true needs DPoP; m2m token --dpop-key (PEM or JWK) prints a token bound to that key", async () => {
    const line = /DPoP required: (.+)/.exec(dev.output())?.[1];
    expect(line).toMatch(
      /^M2M_CLIENT_SECRET="\$\(node -p .+\)" m2m token --issuer \S+ --client-id 'bound' --audience \S+ --dpop-key dpop\.pem --client-secret-env M2M_CLIENT_SECRET$/,
    );
    expect(line).not.toContain("bound-secret");
    const env = { BOUND_SECRET: "bound-secret" };
    const base = ["token", "--issuer", issuer, "--client-id", "bound", "--client-secret-env", "BOUND_SECRET"];
    // Without a proof, the authorization server refuses the app (oidc-provider: dpop_bound_access_tokens).
    const plain = await m2m(base, env);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('invalid_grant: the app "bound" requires DPoP');

    const ec = await generateKeyPair("ES256", { extractable: true });
    const ed = await generateKeyPair("Ed25519", { extractable: true });
    await writeFile(join(dir, "dpop.pem"), await exportPKCS8(ec.privateKey), { mode: 0o600 });
    await writeFile(join(dir, "dpop.jwk"), JSON.stringify(await exportJWK(ed.privateKey)), { mode: 0o600 });
    // The printed line works when pasted, beside dpop.pem, with `m2m` on the PATH.
    await mkdir(join(dir, "bin"), { recursive: true });
    await writeFile(join(dir, "bin", "m2m"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, {
      mode: 0o755,
    });
    const pasted = await run("sh", ["-c", line ?? "false"], {
      cwd: dir,
      env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}`, NO_COLOR: "1" },
    });
    expect((decodeJwt(pasted.stdout.trim()).cnf as { jkt?: string }).jkt).toBe(
      await calculateJwkThumbprint(await exportJWK(ec.publicKey)),
    );
    for (const [file, pair] of [
      ["dpop.pem", ec],
      ["dpop.jwk", ed],
    ] as const) {
      const bound = await m2m([...base, "--dpop-key", join(dir, file)], env);
      expect(bound.code).toBe(0);
      const claims = decodeJwt(bound.stdout.trim());
      expect(claims).toMatchObject({ client_id: "bound", aud: ORDERS });
      expect((claims.cnf as { jkt?: string }).jkt).toBe(
        await calculateJwkThumbprint(await exportJWK(pair.publicKey)),
      );
      expect(bound.stderr).toContain("Authorization: DPoP <token>");
      const json = await m2m([...base, "--dpop-key", join(dir, file), "--json"], env);
      expect(JSON.parse(json.stdout)).toMatchObject({ token_type: "DPoP" });
    }
    // Other apps may use DPoP too; a bad key file is a usage error that does not echo the file.
    const optional = await m2m(
      [
        "token",
        "--issuer",
        issuer,
        "--client-id",
        "writer",
        "--client-secret-env",
        "W",
        "--dpop-key",
        join(dir, "dpop.pem"),
      ],
      { W: "writer-secret" },
    );
    expect(decodeJwt(optional.stdout.trim()).cnf).toBeDefined();
    await writeFile(join(dir, "not-a-key"), "{ definitely-not-json secret-material");
    const bad = await m2m([...base, "--dpop-key", join(dir, "not-a-key")], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--dpop-key");
    expect(bad.stderr).not.toContain("secret-material");
  });

  it("no target: invalid_target naming the APIs for an app granted several, a JWT for an app granted one", async () => {
    const several = await m2m(
      ["token", "--issuer", issuer, "--client-id", "reporter", "--client-secret-env", "REPORTER_SECRET"],
      { REPORTER_SECRET: "s3cr+t/with=odd:chars%&" },
    );
    expect(several.code).toBe(1);
    expect(several.stderr).toContain("invalid_target");
    expect(several.stderr).toContain(`${ORDERS}, ${BILLING}`);
    const one = await m2m(
      ["token", "--issuer", issuer, "--client-id", "writer", "--client-secret-env", "WRITER_SECRET"],
      { WRITER_SECRET: "writer-secret" },
    );
    expect(one.code).toBe(0);
    expect(decodeJwt(one.stdout.trim())).toMatchObject({ aud: ORDERS, client_id: "writer" });
  });

  it("discovery advertises only what the server serves", async () => {
    const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata.grant_types_supported).toEqual(["client_credentials"]);
    expect(metadata.response_types_supported).toEqual([]);
    expect(metadata).not.toHaveProperty("authorization_endpoint");
    expect(metadata).not.toHaveProperty("response_modes_supported");
    expect(metadata).not.toHaveProperty("userinfo_endpoint");
    expect(metadata).toMatchObject({ token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` });
  });

  it("m2m token and m2m verify work against it; secrets come from the environment", async () => {
    const env = { REPORTER_SECRET: "s3cr+t/with=odd:chars%&" };
    const token = await m2m(
      [
        "token",
        "--issuer",
        issuer,
        "--client-id",
        "reporter",
        "--client-secret-env",
        "REPORTER_SECRET",
        "--audience",
        ORDERS,
      ],
      env,
    );
    expect(token.code).toBe(0);
    const jwt = token.stdout.trim();
    expect(decodeJwt(jwt)).toMatchObject({ aud: ORDERS, scope: "read:orders", client_id: "reporter" });
    const valid = await m2m([
      "verify",
      jwt,
      "--issuer",
      issuer,
      "--audience",
      ORDERS,
      "--scope",
      "read:orders",
    ]);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toMatch(/^valid: client reporter, scopes \[read:orders\]/);
    const wrongScope = await m2m([
      "verify",
      jwt,
      "--issuer",
      issuer,
      "--audience",
      ORDERS,
      "--scope",
      "write:orders",
    ]);
    expect(wrongScope.code).toBe(1);
    expect(wrongScope.stdout).toContain("invalid: ERR_INSUFFICIENT_SCOPE");
    const wrongAudience = await m2m(["verify", jwt, "--issuer", issuer, "--audience", BILLING]);
    expect(wrongAudience.code).toBe(1);
    expect(wrongAudience.stdout).toContain("ERR_JWT_AUDIENCE");
    const json = await m2m(
      [
        "token",
        "--issuer",
        issuer,
        "--client-id",
        "reporter",
        "--client-secret-env",
        "REPORTER_SECRET",
        "--audience",
        BILLING,
        "--json",
      ],
      env,
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      token_type: "Bearer",
      scope: "read:invoices",
      audience: BILLING,
    });
    const refused = await m2m(
      [
        "token",
        "--issuer",
        issuer,
        "--client-id",
        "reporter",
        "--client-secret-env",
        "REPORTER_SECRET",
        "--audience",
        ORDERS,
        "--scope",
        "write:orders",
      ],
      env,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(
      "m2m token: ERR_OAUTH: token endpoint answered 400 invalid_scope: the app is not authorized for write:orders",
    );
    expect(`${refused.stdout}${refused.stderr}`).not.toContain("s3cr+t");
  });

  it("m2m decode shows header and claims with human times; stdin with -", async () => {
    const token = await new ClientCredentialsClient({
      issuer,
      clientId: "writer",
      clientSecret: "writer-secret",
    }).getToken({ audience: ORDERS });
    const decoded = await m2m(["decode", token.accessToken]);
    expect(decoded.code).toBe(0);
    expect(decoded.stdout).toContain('"typ": "at+jwt"');
    expect(decoded.stdout).toMatch(/"exp": "\d+ \(\d{4}-\d\d-\d\dT/);
    expect(decoded.stdout).toMatch(/expires in \d+ s/);
    const child = execFile(process.execPath, [BIN, "decode", "-"], {
      env: { ...process.env, NO_COLOR: "1" },
    });
    child.stdin?.end(token.accessToken);
    let out = "";
    child.stdout?.on("data", (chunk) => {
      out += chunk;
    });
    const code = await new Promise((done) => child.once("exit", done));
    expect(code).toBe(0);
    expect(out).toContain('"client_id": "writer"');
    expect((await m2m(["decode", "not-a-jwt"])).code).toBe(1);
  });

  it("tokens verify with createVerifier and carry exactly the granted scopes, in both request styles", async () => {
    const verifier = createVerifier({ issuer, audience: [ORDERS, BILLING], requireTyp: true });
    const resourceStyle = new ClientCredentialsClient({
      issuer,
      clientId: "writer",
      clientSecret: "writer-secret",
    });
    const audienceStyle = new ClientCredentialsClient({
      issuer,
      clientId: "writer",
      clientSecret: "writer-secret",
      audienceParam: "audience",
    });
    for (const client of [resourceStyle, audienceStyle]) {
      const all = await verifier.verify((await client.getToken({ audience: ORDERS })).accessToken);
      expect([...all.scopes].sort()).toEqual(["read:orders", "write:orders"]);
      const one = await verifier.verify(
        (await client.getToken({ audience: ORDERS, scope: "read:orders" })).accessToken,
      );
      expect(one.scopes).toEqual(["read:orders"]);
      expect(one.clientId).toBe("writer");
    }
    const es = await new ClientCredentialsClient({
      issuer,
      clientId: "reporter",
      clientSecret: "s3cr+t/with=odd:chars%&",
    }).getToken({ audience: BILLING });
    expect(decodeProtectedHeader(es.accessToken).alg).toBe("ES256");
    expect((await verifier.verify(es.accessToken)).scopes).toEqual(["read:invoices"]);
  });

  it("private_key_jwt apps; unauthorized scopes, APIs and disabled apps are refused", async () => {
    const keyed = new ClientCredentialsClient({
      issuer,
      clientId: "keyed",
      privateKey: appKey.privateKey,
      keyId: "k1",
    });
    expect(decodeJwt((await keyed.getToken({ audience: ORDERS })).accessToken).client_id).toBe("keyed");
    const scopeError = await keyed.getToken({ audience: ORDERS, scope: "write:orders" }).catch((e) => e);
    expect(scopeError).toBeInstanceOf(OAuthError);
    expect(scopeError.error).toBe("invalid_scope");
    const apiError = await keyed.getToken({ audience: BILLING }).catch((e) => e);
    expect(apiError.error).toBe("invalid_target");
    const retired = await new ClientCredentialsClient({
      issuer,
      clientId: "retired",
      clientSecret: "retired-secret",
    })
      .getToken({ audience: ORDERS })
      .catch((e) => e);
    expect(retired.error).toBe("invalid_client");
  });

  it("keeps its signing keys: tokens survive a restart", async () => {
    const token = await new ClientCredentialsClient({
      issuer,
      clientId: "writer",
      clientSecret: "writer-secret",
    }).getToken({ audience: ORDERS });
    const keysBefore = await readFile(join(dir, "m2m.dev.keys.json"), "utf8");
    const again = await startDev(join(dir, "m2m.dev.json"));
    try {
      const newIssuer = again.match[1] as string;
      expect(again.output()).not.toContain("created");
      const jwks = (await (await fetch(`${newIssuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
      const kid = decodeProtectedHeader(token.accessToken).kid;
      expect(jwks.keys.map((k) => k.kid)).toContain(kid);
      expect(await readFile(join(dir, "m2m.dev.keys.json"), "utf8")).toBe(keysBefore);
    } finally {
      await again.stop();
    }
  });
});

describe("bad configurations exit 2 with a message naming the file and the problem", () => {
  // biome-ignore lint/suspicious/noExplicitAny: the cases edit a JSON document freely
  type Json = Record<string, any>;
  const cases: Array<[string, (c: Json) => void, RegExp]> = [
    [
      "unknown API in a grant",
      (c) => {
        c.apps[0].grants["https://nope.example.com"] = ["x"];
      },
      /apps\[0\]\.grants\["https:\/\/nope\.example\.com"\]: unknown API/,
    ],
    [
      "duplicate client id",
      (c) => {
        c.apps[1].clientId = "reporter";
      },
      /apps\[1\]\.clientId: duplicate client id "reporter"/,
    ],
    [
      "scope not defined on the API",
      (c) => {
        c.apps[0].grants[ORDERS] = ["delete:orders"];
      },
      /apps\[0\]\.grants\["https:\/\/orders\.example\.com"\]\[0\]: scope "delete:orders" is not defined/,
    ],
    [
      "API identifier not a URI",
      (c) => {
        c.apis[0].identifier = "orders";
      },
      /apis\[0\]\.identifier: "orders" is not an absolute URI/,
    ],
    [
      "no apps",
      (c) => {
        c.apps = [];
      },
      /apps: must be a non-empty array/,
    ],
  ];

  it.each(cases)("%s", async (_name, mutate, message) => {
    const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
    const document = await config();
    mutate(document);
    await writeFile(file, JSON.stringify(document));
    const result = await m2m(["dev", "--config", file, "--port", "0"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // one line, no stack
    expect(result.stdout).not.toContain("ready");
  });

  it("a malformed file", async () => {
    const file = join(dir, "broken.json");
    await writeFile(file, '{ "apis": [ }');
    const result = await m2m(["dev", "--config", file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/broken\.json: not valid JSON/);
  });

  it("a missing file names the path tried and how to start; --init writes a sample that starts", async () => {
    const missing = join(dir, "missing.json");
    const result = await m2m(["dev", "--config", missing]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${missing}: no such file. \`m2m dev --init\` writes a commented sample`);
    const sample = join(dir, "sample.json");
    const init = await m2m(["dev", "--init", "--config", sample]);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`wrote ${sample}`);
    const text = await readFile(sample, "utf8");
    expect(text).toContain('"$comment"');
    expect(() => parseDevConfig(text, sample)).not.toThrow();
    const again = await m2m(["dev", "--init", "--config", sample]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already exists");
    const started = await startDev(sample);
    await started.stop();
  });
});

describe("m2m usage", () => {
  it("--help for every command, exit codes for misuse", async () => {
    for (const command of ["dev", "token", "decode", "verify"]) {
      const help = await m2m([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: m2m ${command}`);
    }
    expect((await m2m(["--help"])).stdout).toContain("Commands:");
    expect((await m2m([])).code).toBe(2);
    expect((await m2m(["bogus"])).code).toBe(2);
    const missing = await m2m(["token", "--issuer", issuer, "--client-id", "x"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      "one of --client-secret-env, --client-secret-file, --private-key-file, --assertion-file or --cert (mutual TLS) is required",
    );
    expect((await m2m(["token", "--nope"])).code).toBe(2);
    const debug = await m2m(["verify", "a.b.c", "--issuer", "not a url", "--audience", "x", "--debug"]);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
