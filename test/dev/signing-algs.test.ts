/**
 * The dev server with every `signingAlg` the configuration schema allows, alone and together: each
 * API's tokens are signed with its algorithm, and a client gets them and a verifier accepts them
 * (discovery, JWKS, signature).
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { type DevApi, startDevServer } from "../../src/dev-server/index.js";
import { ClientCredentialsClient, createVerifier } from "../../src/index.js";

type SigningAlg = NonNullable<DevApi["signingAlg"]>;

const schema = JSON.parse(
  await readFile(join(resolve(import.meta.dirname, "../.."), "m2m.dev.schema.json"), "utf8"),
);
const ALGS: SigningAlg[] = schema.properties.apis.items.properties.signingAlg.enum;

const api = (alg: SigningAlg) => `https://${alg.toLowerCase()}.example.com`;

/** Starts a dev server with one API per algorithm, gets a token for each and verifies it. */
async function roundTrip(algs: SigningAlg[]): Promise<Array<[string, string, string | undefined]>> {
  const dev = await startDevServer({
    config: {
      apis: algs.map((alg) => ({ identifier: api(alg), scopes: ["read:data"], signingAlg: alg })),
      apps: [
        {
          clientId: "job",
          clientSecret: "job-secret",
          grants: Object.fromEntries(algs.map((alg) => [api(alg), ["read:data"]])),
        },
      ],
    },
  });
  const client = new ClientCredentialsClient({
    issuer: dev.issuer,
    clientId: "job",
    clientSecret: "job-secret",
  });
  try {
    const seen: Array<[string, string, string | undefined]> = [];
    for (const alg of algs) {
      const token = await client.getToken({ audience: api(alg) });
      const auth = await createVerifier({ issuer: dev.issuer, audience: api(alg) }).verify(token.accessToken);
      seen.push([
        decodeProtectedHeader(token.accessToken).alg as string,
        auth.scopes.join(" "),
        auth.clientId,
      ]);
    }
    return seen;
  } finally {
    await client.close();
    await dev.close();
  }
}

describe("dev server signing algorithms", () => {
  it("the schema allows RS256, PS256, ES256 and EdDSA", () => {
    expect(ALGS).toEqual(["RS256", "PS256", "ES256", "EdDSA"]);
  });

  it.each(ALGS)(
    "every API on %s: the app gets a token, signed so, that the verifier accepts",
    async (alg) => {
      expect(await roundTrip([alg])).toEqual([[alg, "read:data", "job"]]);
    },
  );

  it("one API per algorithm on one server: each token is signed with its API's algorithm", async () => {
    expect(await roundTrip(ALGS)).toEqual(ALGS.map((alg) => [alg, "read:data", "job"]));
  });
});
