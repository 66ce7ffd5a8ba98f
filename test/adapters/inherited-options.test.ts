/**
 * Options inherited from a prototype count as own ones, on every options object: shared defaults
 * (`Object.create(base)`) and a configuration class with getters keep their policies on Express,
 * Fastify, Hono and the fetch-API adapter (real servers on 127.0.0.1), as `createVerifier` keeps
 * them; and an inherited misspelt name is refused as an own one is.
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  ClientCredentialsClient,
  createDpopProofVerifier,
  createVerifier,
  logEvents,
  verifyAccessToken,
} from "../../src/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { rejected, thrown } from "../support/option-names.js";

const API = "https://api.example.com";
let ks: KeyServer;
/** A token of another organization, without the admin scope. */
let otherOrgReader: string;
/** A token of the organization, with the admin scope. */
let admin: string;

beforeAll(async () => {
  ks = await startKeyServer();
  otherOrgReader = await ks.sign({ org_id: "globex", scope: "read:data", client_id: "intruder" });
  admin = await ks.sign({ org_id: "acme", scope: "admin read:data", client_id: "ops" });
});
afterAll(() => ks.close());

/** Policies every API of the company shares: the admin scope, and tokens of its own organization. */
const policies = { requiredScopes: ["admin"], claims: { org_id: "acme" } };

/** Shared defaults, with each API's own connection settings on top. */
const fromDefaults = () => Object.assign(Object.create(policies), connection());
const connection = () => ({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });

/** A configuration class: connection settings as fields, policies as getters. */
class AdminApiConfig {
  issuer = ks.issuer;
  audience = API;
  jwksUri = ks.jwksUri;
  get requiredScopes(): string[] {
    return ["admin"];
  }
  get claims(): Record<string, string> {
    return { org_id: "acme" };
  }
}

type Server = { url: string; close: () => Promise<void> };

const servers: Record<string, (config: object) => Promise<Server>> = {
  express: async (config) => {
    const app = express();
    app.get("/admin", requireAuth(config as never), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    return listen(createServer(app));
  },
  fastify: async (config) => {
    const app = Fastify();
    await app.register(m2mAuth, Object.assign(Object.create(config), { global: true }) as never);
    app.get("/admin", async (request) => ({ client: request.auth?.clientId }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (config) => {
    const app = new Hono();
    app.use("/admin", honoAuth(config as never));
    app.get("/admin", (c) => c.json({ client: c.get("auth")?.clientId }));
    return serveFetch((request) => app.fetch(request));
  },
  web: async (config) =>
    serveFetch(withAuth((_request, auth) => Response.json({ client: auth.clientId }), config as never)),
};

const call = async (url: string, token: string) => {
  const response = await fetch(`${url}/admin`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, challenge: response.headers.get("www-authenticate") };
};

describe.each(Object.keys(servers))("%s keeps inherited policies", (name) => {
  it.each([
    ["Object.create(defaults) with own connection settings", fromDefaults],
    ["a configuration class with getters", () => new AdminApiConfig()],
    ["Object.create(everything)", () => Object.create({ ...policies, ...connection() })],
  ])(
    "%s: another organization's token without the scope is refused, the admin's accepted",
    async (_, make) => {
      const server = await servers[name]!(make());
      try {
        const refused = await call(server.url, otherOrgReader);
        expect(refused.status).toBe(403);
        expect(refused.challenge).toMatch(/error="insufficient_scope"/);
        expect(await call(server.url, admin)).toEqual({ status: 200, challenge: null });
      } finally {
        await server.close();
      }
    },
  );
});

describe("the adapters refuse what createVerifier refuses with the same object", () => {
  it("createVerifier and verifyAccessToken read the same objects through their prototypes", async () => {
    for (const config of [fromDefaults(), new AdminApiConfig()]) {
      const verifier = createVerifier(config);
      expect((await rejected(verifier.verify(otherOrgReader))) as Error).toMatchObject({
        code: "ERR_INSUFFICIENT_SCOPE",
      });
      expect((await verifier.verify(admin)).clientId).toBe("ops");
      expect((await rejected(verifyAccessToken(otherOrgReader, config))) as Error).toMatchObject({
        code: "ERR_INSUFFICIENT_SCOPE",
      });
    }
  });
});

describe("an inherited name that is not an option is refused as an own one is", () => {
  const typo = () => Object.assign(Object.create({ requiredScope: ["admin"] }), connection());
  class TypoConfig {
    issuer = ks.issuer;
    audience = API;
    get requiredScope(): string[] {
      return ["admin"];
    }
  }
  const expectTypo = (error: unknown, where: string) => {
    expect(error, where).toBeInstanceOf(TypeError);
    expect((error as Error).message, where).toMatch(
      /requiredScope is not an option of .*did you mean requiredScopes\?/,
    );
  };

  it("every adapter, first and second argument", async () => {
    for (const config of [typo(), new TypoConfig()]) {
      expectTypo(
        thrown(() => requireAuth(config)),
        "requireAuth",
      );
      expectTypo(
        thrown(() => honoAuth(config)),
        "honoAuth",
      );
      expectTypo(
        thrown(() => withAuth(() => new Response(), config)),
        "withAuth",
      );
      const app = Fastify();
      try {
        expectTypo(await rejected(app.register(m2mAuth, config).ready()), "m2mAuth");
      } finally {
        await app.close();
      }
    }
    const verifier = createVerifier(connection());
    const options = Object.create({ requireCertificateBoundToken: true });
    for (const make of [
      () => requireAuth(verifier, options),
      () => honoAuth(verifier, options),
      () => withAuth(() => new Response(), verifier, options),
    ]) {
      expect((thrown(make) as Error).message).toMatch(/did you mean requireCertificateBoundTokens\?/);
    }
  });

  it("createVerifier, verifyAccessToken, a verify() call, the client, DPoP and logEvents", async () => {
    expectTypo(
      thrown(() => createVerifier(typo())),
      "createVerifier",
    );
    expectTypo(await rejected(verifyAccessToken(admin, typo())), "verifyAccessToken");
    const verifier = createVerifier(connection());
    expectTypo(
      await rejected(verifier.verify(admin, Object.create({ requiredScope: ["admin"] }))),
      "verify()",
    );
    const client = thrown(
      () =>
        new ClientCredentialsClient(
          Object.assign(Object.create({ defaultScop: "admin" }), {
            tokenEndpoint: `${ks.issuer}token`,
            clientId: "svc",
            clientSecret: "secret",
          }),
        ),
    );
    expect((client as Error).message).toMatch(/defaultScop is not an option .*did you mean defaultScope\?/);
    const dpop = thrown(() => createDpopProofVerifier(Object.create({ requird: true })));
    expect((dpop as Error).message).toMatch(/requird is not an option .*did you mean required\?/);
    const log = thrown(() => logEvents(console, Object.create({ levl: "debug" })));
    expect((log as Error).message).toMatch(/levl is not an option .*did you mean level\?/);
  });

  it("a nested options object too: jwks, issuers entries", async () => {
    const jwks = thrown(() => createVerifier({ ...connection(), jwks: Object.create({ cooldownM: 1000 }) }));
    expect((jwks as Error).message).toMatch(
      /jwks\.cooldownM is not an option .*did you mean jwks\.cooldownMs\?/,
    );
    const entry = thrown(() =>
      createVerifier({ issuers: [Object.assign(Object.create({ scopeClam: "scp" }), connection())] }),
    );
    expect((entry as Error).message).toMatch(/issuers\[0\]\.scopeClam is not an option/);
  });

  it("an inherited nested option is read: jwks settings and an issuers entry's policies", async () => {
    const verifier = createVerifier({
      issuers: [Object.assign(Object.create({ claims: { org_id: "acme" } }), connection())],
      jwks: Object.create({ timeoutMs: 2000 }),
    });
    expect((await rejected(verifier.verify(otherOrgReader))) as Error).toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
    expect((await verifier.verify(admin)).clientId).toBe("ops");
  });
});
