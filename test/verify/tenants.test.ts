/**
 * Many tenants of one provider: issuer templates with an allow-list or "any", the tenant claim, the
 * Entra preset's templates, and an issuers resolver. `m2m-kit/testing`'s issuer serves each tenant
 * under its own path with its own keys, over real HTTP; requests are counted per path, so "never
 * causes a request" is what the server saw.
 */
import { createServer } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { createVerifier, type IssuerOptions, type VerifierOptions } from "../../src/index.js";
import { createTestIssuer, type TestIssuer, type TestTenant } from "../../src/testing/index.js";
import { acceptedIssuersOf } from "../../src/verify/tenants.js";
import { ManualClock } from "../support/clock.js";
import { listen } from "../support/http.js";

const API = "https://api.example.com";
let issuer: TestIssuer;
let contoso: TestTenant;
let fabrikam: TestTenant;
/** `<issuer>/{tenantid}`: each tenant's `iss`, as Entra's `https://login.microsoftonline.com/{tenantid}/v2.0`. */
let template: string;

/** Requests the test issuer has seen, in all, or for paths that start with `prefix`. */
function requestCount(prefix = "/"): number {
  let count = 0;
  for (const [path, n] of issuer.requests) if (path.startsWith(prefix)) count += n;
  return count;
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number };
  }
  throw new Error("expected a rejection");
}

beforeAll(async () => {
  // ES256: tenants' keys are made quickly.
  issuer = await createTestIssuer({ audience: API, algorithm: "ES256" });
  contoso = await issuer.tenant("contoso");
  fabrikam = await issuer.tenant("fabrikam");
  template = `${issuer.issuer}/{tenantid}`;
});
afterAll(() => issuer?.close());

describe("issuer templates", () => {
  it("an allowed tenant gets 200 with auth.tenant on Express; another tenant 401, and its keys are never asked for", async () => {
    const app = express();
    app.get(
      "/orders",
      requireAuth({ issuer: template, tenants: ["contoso"], tenantClaim: "tid", audience: API }),
      (req, res) => {
        res.json({ tenant: req.auth?.tenant, client: req.auth?.clientId });
      },
    );
    const server = await listen(createServer(app));
    try {
      const call = async (token: string) =>
        fetch(`${server.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      const ok = await call(await contoso.mint({ tid: "contoso", client_id: "svc" }));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ tenant: "contoso", client: "svc" });
      expect(contoso.jwksRequests).toBe(1);

      const other = await call(await fabrikam.mint({ tid: "fabrikam", client_id: "svc" }));
      expect(other.status).toBe(401);
      expect(other.headers.get("www-authenticate")).toContain('error="invalid_token"');
      expect(requestCount("/fabrikam")).toBe(0);
      expect(fabrikam.jwksRequests).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("the tenant claim must equal the tenant of iss (401), and must be there", async () => {
    const verifier = createVerifier({
      issuer: template,
      tenants: ["contoso", "fabrikam"],
      tenantClaim: "tid",
      audience: API,
    });
    await expect(verifier.verify(await contoso.mint({ tid: "contoso" }))).resolves.toMatchObject({
      tenant: "contoso",
      issuer: contoso.issuer,
    });
    // A token of contoso that says it belongs to fabrikam (an allowed tenant): refused all the same.
    const crossed = await rejection(verifier.verify(await contoso.mint({ tid: "fabrikam" })));
    expect(crossed).toMatchObject({ code: "ERR_JWT_ISSUER", status: 401 });
    const missing = await rejection(verifier.verify(await contoso.mint({})));
    expect(missing).toMatchObject({ code: "ERR_JWT_CLAIM_MISSING", status: 401 });
  });

  it('a template needs tenants (a list or "any"): a TypeError at creation, wherever the template is', () => {
    const needsTenants = /tenants is required with an issuer template/;
    expect(() => createVerifier({ issuer: template, audience: API })).toThrow(TypeError);
    expect(() => createVerifier({ issuer: template, audience: API })).toThrow(needsTenants);
    expect(() => createVerifier({ issuers: [{ issuer: template, audience: API }] })).toThrow(
      /issuers\[0\]\.tenants is required/,
    );
    expect(() => createVerifier({ provider: "entra", tenant: "common", audience: API })).toThrow(
      needsTenants,
    );
    expect(() => requireAuth({ issuer: [issuer.issuer, template], audience: API })).toThrow(needsTenants);
    expect(() => createVerifier({ issuer: template, tenants: [], audience: API })).toThrow(/non-empty array/);
    expect(() => createVerifier({ issuer: template, tenants: "all" as never, audience: API })).toThrow(
      /tenants must be/,
    );
  });

  it("templates and tenants that cannot be matched safely are refused at creation", () => {
    const refused: Array<[Partial<VerifierOptions>, RegExp]> = [
      [{ issuer: `${issuer.issuer}/{a}/{b}`, tenants: "any" }, /exactly one placeholder/],
      [{ issuer: "https://login.example.com:{port}/", tenants: "any" }, /not the user info or the port/],
      // User info is refused as credentials, before any message repeats the template.
      [
        { issuer: "https://{user}@login.example.com/", tenants: "any" },
        /issuer must not contain credentials/,
      ],
      [{ issuer: "https://login.example.com/?tenant={t}", tenants: "any" }, /no query or fragment/],
      [{ issuer: "{scheme}://login.example.com/", tenants: "any" }, /in the host or the path/],
      [{ issuer: "https://login.example.com/{t}}", tenants: "any" }, /braces/],
      [{ issuer: template, tenants: ["contoso.com"] }, /tenants\[0\] must be 1 to 64 letters/],
      [{ issuer: template, tenants: ["a".repeat(65)] }, /tenants\[0\] must be 1 to 64 letters/],
      [{ issuer: template, tenants: [""] }, /tenants\[0\]/],
      [
        { issuer: issuer.issuer, tenants: ["contoso"] },
        /tenants goes with an issuer template, or with tenantClaim/,
      ],
      [
        { issuer: template, tenants: "any", jwksUri: `${issuer.issuer}/{tenant}/jwks` },
        /jwksUri must use the placeholder of its issuer template, \{tenantid\}/,
      ],
      [{ issuer: issuer.issuer, jwksUri: `${issuer.issuer}/{tenantid}/jwks` }, /jwksUri has a placeholder/],
      [{ issuer: template, tenants: "any", tenantClaim: "" }, /tenantClaim must be a non-empty string/],
    ];
    for (const [options, message] of refused) {
      expect(() => createVerifier({ audience: API, ...options } as VerifierOptions), String(message)).toThrow(
        message,
      );
    }
  });

  it('under "any", a placeholder in the host must be a subdomain of a fixed domain: a tenant never names a domain anyone can register', () => {
    const open = /under tenants: "any" a placeholder in the host must be a subdomain of a fixed domain/;
    for (const [options, option] of [
      [{ issuer: "https://{tenant}example.com/" }, "issuer"],
      [{ issuer: "https://auth.{tenant}.com/" }, "issuer"],
      [{ issuer: "https://{tenant}.com/oauth2/default" }, "issuer"],
      [{ issuer: "https://login.{tenant}/" }, "issuer"],
      [{ issuer: "https://{tenant}.com./" }, "issuer"],
      [{ issuer: `${issuer.issuer}/{tenant}`, jwksUri: "https://{tenant}keys.com/jwks" }, "jwksUri"],
      [{ issuer: "https://{tenant}.login.example.com/", jwksUri: "https://keys.{tenant}.net/" }, "jwksUri"],
    ] as const) {
      const made = () => createVerifier({ ...options, tenants: "any", audience: API });
      expect(made, options.issuer).toThrow(TypeError);
      expect(made, options.issuer).toThrow(open);
      expect(made, options.issuer).toThrow(new RegExp(`^${option}: `));
      // In an issuers entry (a resolver's answers are compiled the same way), the entry is named.
      expect(() => createVerifier({ issuers: [{ ...options, tenants: "any", audience: API }] })).toThrow(
        new RegExp(`^issuers\\[0\\]\\.${option}: `),
      );
      // A list of tenants names each domain: custom domains per customer stay possible.
      expect(() => createVerifier({ ...options, tenants: ["contoso"], audience: API })).not.toThrow();
    }
    for (const accepted of [
      "https://{tenant}.okta.com/oauth2/default",
      "https://{tenant}-auth.example.com/",
      "https://id-{tenant}.eu.example.com:8443/",
      "https://login.microsoftonline.com/{tenantid}/v2.0",
      "https://auth.example.com/{tenant}.com/",
    ]) {
      expect(
        () => createVerifier({ issuer: accepted, tenants: "any", audience: API }),
        accepted,
      ).not.toThrow();
    }
  });

  it("a placeholder matches one path segment of letters, digits and -: hostile values are refused before any request", async () => {
    const hostile = [
      "a.b",
      "..",
      "%2e%2e",
      "contoso%2Fx",
      "",
      "a".repeat(65),
      "contoso/extra",
      "contoso/../fabrikam",
      "contoso?x=1",
      "contoso#x",
      "con toso",
      "contoso:443",
      "user@contoso",
      "cöntoso",
      "contoso\u0000",
    ];
    for (const tenants of ["any", ["contoso"]] as const) {
      const verifier = createVerifier({ issuer: template, tenants, tenantClaim: "tid", audience: API });
      const before = requestCount();
      for (const value of hostile) {
        const token = await contoso.mint({ iss: `${issuer.issuer}/${value}`, tid: value });
        expect(await rejection(verifier.verify(token)), JSON.stringify(value)).toMatchObject({
          code: "ERR_JWT_ISSUER",
          status: 401,
        });
      }
      // A tenant id that is 64 characters long is one, and the trailing slash is part of the shape.
      await expect(
        verifier.verify(await contoso.mint({ iss: `${contoso.issuer}/`, tid: "contoso" })),
      ).rejects.toMatchObject({ code: "ERR_JWT_ISSUER" });
      expect(requestCount() - before).toBe(0);
    }
  });

  it("a placeholder in a host label: one label, with the tenant's keys from a jwksUri template", async () => {
    const verifier = createVerifier({
      issuer: "https://{tenant}.login.example.com/",
      jwksUri: `${issuer.issuer}/{tenant}/jwks`,
      tenants: ["contoso"],
      audience: API,
    });
    const before = contoso.jwksRequests;
    await expect(
      verifier.verify(await contoso.mint({ iss: "https://contoso.login.example.com/" })),
    ).resolves.toMatchObject({ tenant: "contoso" });
    expect(contoso.jwksRequests).toBe(before + 1);
    const total = requestCount();
    for (const iss of [
      "https://evil.example/.login.example.com/",
      "https://evil.example#.login.example.com/",
      "https://evil.example?.login.example.com/",
      "https://a.contoso.login.example.com/",
      "https://contoso.evil.example/.login.example.com/",
      "https://user@contoso.login.example.com/",
      "https://contoso.login.example.com.evil.example/",
      "https://.login.example.com/",
    ]) {
      const token = await contoso.mint({ iss });
      expect(await rejection(verifier.verify(token)), iss).toMatchObject({ code: "ERR_JWT_ISSUER" });
    }
    expect(requestCount()).toBe(total);
  });

  it("a placeholder may share its segment with fixed text (Cognito pools: eu-west-1_{pool})", async () => {
    const verifier = createVerifier({
      issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_{pool}",
      jwksUri: `${issuer.issuer}/{pool}/jwks`,
      tenants: ["contoso"],
      audience: API,
    });
    const pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_contoso";
    await expect(verifier.verify(await contoso.mint({ iss: pool }))).resolves.toMatchObject({
      tenant: "contoso",
      issuer: pool,
    });
    for (const iss of [
      `${pool}_x`,
      `${pool}/`,
      pool.replace("eu-west-1_", "eu-west-2_"),
      pool.replace("_contoso", "_"),
    ]) {
      const token = await contoso.mint({ iss });
      expect(await rejection(verifier.verify(token)), iss).toMatchObject({ code: "ERR_JWT_ISSUER" });
    }
  });

  it('under "any", a flood of made-up tenants costs at most one key fetch per cooldown, and the known tenant\'s keys stay cached', async () => {
    const real: TestTenant[] = [];
    for (let i = 0; i < 20; i++) real.push(await issuer.tenant(`flood-${i}`));
    const clock = new ManualClock();
    const cooldownMs = 1_000;
    const verifier = createVerifier({
      issuer: template,
      tenants: "any",
      tenantClaim: "tid",
      audience: API,
      clock,
      // Keys stay fresh for the whole test: any request to contoso's JWKS would be a refetch.
      jwks: { cooldownMs, cacheMaxAgeMs: 3_600_000 },
      verifiedTokenCache: false,
    });
    await expect(verifier.verify(await contoso.mint({ tid: "contoso" }))).resolves.toMatchObject({
      tenant: "contoso",
    });
    const contosoPaths = () => requestCount("/contoso/");
    const contosoBefore = contosoPaths();
    // Tenants that exist (their keys can be fetched) with tokens their keys did not sign, and
    // tenants that do not exist at all.
    const asked = () => {
      const tenants = new Set<string>();
      for (const path of issuer.requests.keys()) {
        const tenant = /^\/(?:\.well-known\/oauth-authorization-server\/)?((?:flood|ghost)-[^/]+)/.exec(
          path,
        )?.[1];
        if (tenant) tenants.add(tenant);
      }
      return tenants.size;
    };
    let windows = 0;
    for (let window = 0; window < 20; window++) {
      // One cooldown later (and never behind the time the tokens are minted with).
      clock.time = Math.max(clock.time + cooldownMs, Date.now());
      windows++;
      const tokens = [
        await contoso.mint({ iss: (real[window] as TestTenant).issuer, tid: `flood-${window}` }),
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            contoso.mint({ iss: `${issuer.issuer}/ghost-${window}-${i}`, tid: `ghost-${window}-${i}` }),
          ),
        )),
      ];
      const outcomes = await Promise.allSettled(tokens.map((token) => verifier.verify(token)));
      expect(outcomes.every((o) => o.status === "rejected")).toBe(true);
      // One new tenant per cooldown (the first to come), whatever the number of made-up ones.
      expect(asked()).toBe(windows);
      // The known tenant is still served from its cached keys.
      await expect(verifier.verify(await contoso.mint({ tid: "contoso" }))).resolves.toMatchObject({
        tenant: "contoso",
      });
    }
    expect(contosoPaths()).toBe(contosoBefore);
    // Refused new tenants are told to come back (503), not that their token is bad.
    const refused = await rejection(
      verifier.verify(await contoso.mint({ iss: `${issuer.issuer}/late`, tid: "late" })),
    );
    expect(refused).toMatchObject({ code: "ERR_VERIFIER_UNAVAILABLE", status: 503 });
  });

  it("each issuers entry takes tenants and tenantClaim; a fixed issuer with tenantClaim reports and limits the claim", async () => {
    const verifier = createVerifier({
      issuers: [
        { issuer: template, tenants: ["contoso"], tenantClaim: "tid", audience: API },
        { issuer: issuer.issuer, tenantClaim: "org_id", tenants: ["org_1", "org_2"], audience: API },
      ],
    });
    await expect(verifier.verify(await contoso.mint({ tid: "contoso" }))).resolves.toMatchObject({
      tenant: "contoso",
    });
    await expect(verifier.verify(await issuer.mint({ org_id: "org_2" }))).resolves.toMatchObject({
      tenant: "org_2",
    });
    expect(await rejection(verifier.verify(await issuer.mint({ org_id: "org_3" })))).toMatchObject({
      code: "ERR_JWT_ISSUER",
    });
    expect(await rejection(verifier.verify(await issuer.mint({ org_id: 7 })))).toMatchObject({
      code: "ERR_JWT_MALFORMED",
    });
    // A plain issuer has no tenant.
    const plain = await createVerifier({ issuer: issuer.issuer, audience: API }).verify(await issuer.mint());
    expect(plain.tenant).toBeUndefined();
    expect("tenant" in plain).toBe(false);
  });
});

describe("the Entra preset", () => {
  const TID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  const OTHER = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

  it('tenant: "organizations" means the v2 and v1 templates; tid must match; other tenants never cause a request', async () => {
    const entra = await issuer.tenant(TID);
    const verifier = createVerifier({
      provider: "entra",
      tenant: "organizations",
      tenants: [TID],
      audience: "api://orders",
      jwksUri: `${issuer.issuer}/{tenantid}/jwks`,
    });
    for (const iss of [`https://login.microsoftonline.com/${TID}/v2.0`, `https://sts.windows.net/${TID}/`]) {
      const token = await entra.mint({
        iss,
        tid: TID,
        aud: "api://orders",
        azp: "app",
        roles: ["Orders.Read"],
      });
      await expect(verifier.verify(token)).resolves.toMatchObject({
        tenant: TID,
        issuer: iss,
        scopes: ["Orders.Read"],
      });
    }
    const before = requestCount();
    const other = await entra.mint({
      iss: `https://login.microsoftonline.com/${OTHER}/v2.0`,
      tid: OTHER,
      aud: "api://orders",
    });
    expect(await rejection(verifier.verify(other))).toMatchObject({ code: "ERR_JWT_ISSUER" });
    // The preset's tenant claim: a v2 token of the allowed tenant whose tid names another.
    const crossed = await entra.mint({
      iss: `https://login.microsoftonline.com/${TID}/v2.0`,
      tid: OTHER,
      aud: "api://orders",
    });
    expect(await rejection(verifier.verify(crossed))).toMatchObject({ code: "ERR_JWT_ISSUER" });
    expect(requestCount()).toBe(before);
    expect(acceptedIssuersOf(verifier)).toEqual({
      kind: "templates",
      issuers: [`https://login.microsoftonline.com/${TID}/v2.0`, `https://sts.windows.net/${TID}/`],
      templates: ["https://login.microsoftonline.com/{tenantid}/v2.0", "https://sts.windows.net/{tenantid}/"],
    });
  });

  it('tenant: "common" with tenants: "any" accepts any tenant whose tid matches', async () => {
    const entra = await issuer.tenant(TID);
    const verifier = createVerifier({
      provider: "entra",
      tenant: "common",
      tenants: "any",
      audience: "api://orders",
      jwksUri: `${issuer.issuer}/{tenantid}/jwks`,
    });
    const iss = `https://login.microsoftonline.com/${TID}/v2.0`;
    await expect(
      verifier.verify(await entra.mint({ iss, tid: TID, aud: "api://orders" })),
    ).resolves.toMatchObject({ tenant: TID });
    expect(await rejection(verifier.verify(await entra.mint({ iss, aud: "api://orders" })))).toMatchObject({
      code: "ERR_JWT_CLAIM_MISSING",
    });
  });
});

describe("an issuers resolver", () => {
  /** A resolver backed by a table, counting its calls per iss. */
  function table(rows: Record<string, IssuerOptions | undefined>) {
    const calls = new Map<string, number>();
    const resolve = async (iss: string) => {
      calls.set(iss, (calls.get(iss) ?? 0) + 1);
      return rows[iss];
    };
    return { calls, resolve };
  }

  it("is called once per issuer for 1 000 tokens; its answer's rules apply", async () => {
    const db = table({
      [contoso.issuer]: {
        audience: API,
        tenantClaim: "tid",
        tenants: ["contoso"],
        claims: { client_id: ["svc"] },
      },
      [fabrikam.issuer]: { issuer: fabrikam.issuer, audience: "https://other.example.com" },
    });
    const verifier = createVerifier({ issuers: db.resolve, verifiedTokenCache: false });
    const tokens = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => contoso.mint({ tid: "contoso", client_id: "svc", n: i })),
    );
    for (const token of tokens) {
      expect((await verifier.verify(token)).tenant).toBe("contoso");
    }
    expect(db.calls.get(contoso.issuer)).toBe(1);
    // Its claim policy, tenant claim and audience are the answer's.
    expect(
      await rejection(verifier.verify(await contoso.mint({ tid: "contoso", client_id: "x" }))),
    ).toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
    expect(
      await rejection(verifier.verify(await contoso.mint({ tid: "other", client_id: "svc" }))),
    ).toMatchObject({
      code: "ERR_JWT_ISSUER",
    });
    expect(await rejection(verifier.verify(await fabrikam.mint()))).toMatchObject({
      code: "ERR_JWT_AUDIENCE",
    });
    expect(db.calls.get(fabrikam.issuer)).toBe(1);
    expect(acceptedIssuersOf(verifier)).toEqual({ kind: "resolver", issuers: [], templates: [] });
  });

  it("concurrent tokens of one new issuer share one call", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const verifier = createVerifier({
      issuers: async (iss) => {
        calls++;
        await gate;
        return { issuer: iss, audience: API };
      },
    });
    const tokens = await Promise.all(Array.from({ length: 50 }, () => contoso.mint()));
    const pending = tokens.map((token) => verifier.verify(token));
    release();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.issuer === contoso.issuer)).toBe(true);
    expect(calls).toBe(1);
  });

  it("undefined refuses before any request, and is kept for resolverCacheMs like any answer", async () => {
    const clock = new ManualClock();
    const db = table({});
    const verifier = createVerifier({ issuers: db.resolve, resolverCacheMs: 60_000, clock });
    const before = requestCount();
    for (let i = 0; i < 100; i++) {
      expect(await rejection(verifier.verify(await fabrikam.mint({ n: i })))).toMatchObject({
        code: "ERR_JWT_ISSUER",
        status: 401,
      });
    }
    expect(db.calls.get(fabrikam.issuer)).toBe(1);
    expect(requestCount()).toBe(before);
    clock.advance(60_000);
    await expect(verifier.verify(await fabrikam.mint())).rejects.toMatchObject({ code: "ERR_JWT_ISSUER" });
    expect(db.calls.get(fabrikam.issuer)).toBe(2);
    // An iss that is not an issuer identifier is not worth asking about.
    await expect(verifier.verify(await fabrikam.mint({ iss: "not a url" }))).rejects.toMatchObject({
      code: "ERR_JWT_ISSUER",
    });
    expect(db.calls.has("not a url")).toBe(false);
  });

  it("an iss longer than an issuer identifier is refused without asking: a flood of long, unique ones costs no lookups and fills no cache", async () => {
    const db = table({});
    const verifier = createVerifier({ issuers: db.resolve });
    const longest = `https://tenant.example.com/${"a".repeat(1_024 - "https://tenant.example.com/".length)}`;
    expect(longest).toHaveLength(1_024);
    // Up to maxTokenBytes (16 KiB), each one different: kept as refusals, they would hold ~160 MB.
    for (let i = 0; i < 50; i++) {
      const iss = `${longest}${i}${"b".repeat(10_000)}`;
      expect(await rejection(verifier.verify(await fabrikam.mint({ iss })))).toMatchObject({
        code: "ERR_JWT_ISSUER",
        status: 401,
      });
      expect(await rejection(verifier.verify(await fabrikam.mint({ iss: `${longest}x` })))).toMatchObject({
        code: "ERR_JWT_ISSUER",
      });
    }
    expect(db.calls.size).toBe(0);
    // An issuer of 1 024 characters is still asked about.
    await expect(verifier.verify(await fabrikam.mint({ iss: longest }))).rejects.toMatchObject({
      code: "ERR_JWT_ISSUER",
    });
    expect(db.calls.get(longest)).toBe(1);
  });

  it("a withdrawn answer ends cached verifications; a failing resolver is a 503 that is not kept", async () => {
    const clock = new ManualClock();
    const rows: Record<string, IssuerOptions | undefined> = { [contoso.issuer]: { audience: API } };
    let failing = false;
    const verifier = createVerifier({
      clock,
      resolverCacheMs: 1_000,
      issuers: (iss) => {
        if (failing) throw new Error("database unreachable");
        return rows[iss];
      },
    });
    const token = await contoso.mint();
    for (let i = 0; i < 3; i++) await verifier.verify(token); // cached from its second verification
    rows[contoso.issuer] = undefined;
    clock.advance(1_000);
    expect(await rejection(verifier.verify(token))).toMatchObject({ code: "ERR_JWT_ISSUER" });

    failing = true;
    clock.advance(1_000);
    expect(await rejection(verifier.verify(token))).toMatchObject({
      code: "ERR_VERIFIER_UNAVAILABLE",
      status: 503,
    });
    failing = false;
    rows[contoso.issuer] = { audience: API };
    await expect(verifier.verify(token)).resolves.toMatchObject({ issuer: contoso.issuer });
  });

  it("an answer is checked as an issuers entry is: unknown names, another issuer, a template without tenants", async () => {
    const answers: Array<[unknown, RegExp]> = [
      [
        { audience: API, tenantClaims: "tid" },
        /issuers\(iss\)\.tenantClaims is not an option .*did you mean issuers\(iss\)\.tenantClaim\?/,
      ],
      [{ audience: API, clockToleranceSeconds: 5 }, /not a per-issuer option/],
      [{ issuer: fabrikam.issuer, audience: API }, /does not accept the token's iss/],
      [{ issuer: template, audience: API }, /tenants is required/],
      [{ issuer: contoso.issuer }, /audience is required/],
      ["yes", /must be an object/],
    ];
    for (const [answer, message] of answers) {
      const verifier = createVerifier({ issuers: () => answer as IssuerOptions });
      await expect(verifier.verify(await contoso.mint()), String(message)).rejects.toThrow(message);
    }
    // A template with the token's tenant listed is an answer that fits.
    const fits = createVerifier({
      issuers: () => ({ issuer: template, tenants: ["contoso"], audience: API }),
    });
    await expect(fits.verify(await contoso.mint())).resolves.toMatchObject({ tenant: "contoso" });
  });

  it("resolverCacheMs goes with a resolver only; issuers replaces tenants", () => {
    expect(() => createVerifier({ issuer: issuer.issuer, audience: API, resolverCacheMs: 5 })).toThrow(
      /resolverCacheMs goes with issuers as a function/,
    );
    expect(() => createVerifier({ issuers: () => undefined, resolverCacheMs: -1 })).toThrow(
      /resolverCacheMs must be a non-negative/,
    );
    expect(() =>
      createVerifier({ issuers: [{ issuer: template, audience: API }], tenants: "any" } as never),
    ).toThrow(/issuers replaces issuer, tenant, tenants and audience/);
  });
});

it("acceptedIssuersOf says whether the issuers are a fixed list", () => {
  expect(
    acceptedIssuersOf(createVerifier({ issuer: [issuer.issuer, contoso.issuer], audience: API })),
  ).toEqual({ kind: "fixed", issuers: [issuer.issuer, contoso.issuer], templates: [] });
  expect(acceptedIssuersOf(createVerifier({ issuer: template, tenants: "any", audience: API }))).toEqual({
    kind: "templates",
    issuers: [],
    templates: [template],
  });
});

describe("m2m-kit/testing: tenants of the test issuer", () => {
  it("each tenant has its own discovery, JWKS and key; requests are counted per path, 404s too", async () => {
    const again = await issuer.tenant("contoso");
    expect(again.issuer).toBe(contoso.issuer);
    expect(contoso.issuer).toBe(`${issuer.issuer}/contoso`);
    expect(contoso.jwksUri).toBe(`${issuer.issuer}/contoso/jwks`);
    const discovery = await fetch(`${contoso.issuer}/.well-known/openid-configuration`);
    expect(await discovery.json()).toEqual({ issuer: contoso.issuer, jwks_uri: contoso.jwksUri });
    const own = (await (await fetch(contoso.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    const theirs = (await (await fetch(fabrikam.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    expect(own.keys[0]?.kid).not.toBe(theirs.keys[0]?.kid);
    const before = contoso.jwksRequests;
    await fetch(contoso.jwksUri);
    expect(contoso.jwksRequests).toBe(before + 1);
    expect((await fetch(`${issuer.issuer}/nobody/jwks`)).status).toBe(404);
    expect(issuer.requests.get("/nobody/jwks")).toBe(1);
    for (const id of ["a.b", "", "a/b", "a".repeat(65)]) {
      await expect(issuer.tenant(id)).rejects.toThrow(TypeError);
    }
  });
});
