/**
 * Tenants under `tenants: "any"` whose keys are one key set (a `jwksUri` without a placeholder): the
 * key set is the API's own, not a new tenant's, so tenants never wait for the new-tenant budget and
 * the set is fetched once, not once per tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier } from "../../src/index.js";
import { createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { ManualClock } from "../support/clock.js";

const API = "https://api.example.com";
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API, algorithm: "ES256" });
});
afterAll(() => issuer?.close());

describe('tenants: "any" with one jwksUri for every tenant', () => {
  it("tenants arriving within one cooldown are all accepted, with one JWKS request", async () => {
    const clock = new ManualClock();
    clock.time = Date.now();
    const verifier = createVerifier({
      issuer: `${issuer.issuer}/{tenantid}`,
      tenants: "any",
      tenantClaim: "tid",
      jwksUri: issuer.jwksUri,
      audience: API,
      clock,
      jwks: { cooldownMs: 30_000, cacheMaxAgeMs: 3_600_000 },
    });
    const before = issuer.requests.get("/jwks") ?? 0;
    for (const tenant of ["contoso", "fabrikam", "northwind", "tailspin"]) {
      const token = await issuer.mint({ iss: `${issuer.issuer}/${tenant}`, tid: tenant });
      await expect(verifier.verify(token), tenant).resolves.toMatchObject({ tenant });
    }
    expect((issuer.requests.get("/jwks") ?? 0) - before).toBe(1);
  });
});
