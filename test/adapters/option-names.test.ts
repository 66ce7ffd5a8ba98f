/**
 * Configuration fails closed on every adapter: a misspelt option (first or second argument, Fastify
 * plugin options, route config, hook options) is a TypeError at creation that names it and the
 * option it misspells, never an ignored key that leaves a route open. Configured scopes must be RFC
 * 6749 §3.3 scope tokens, or a line break would reach WWW-Authenticate on every refusal.
 */
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAnyScope, requireAuth, requireScopes } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import {
  honoAuth,
  requireAnyScope as honoRequireAnyScope,
  requireScopes as honoRequireScopes,
} from "../../src/hono/index.js";
import { createVerifier, type Verifier } from "../../src/index.js";
import { authenticate, withAuth } from "../../src/web/index.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import {
  ADAPTER_NAMES,
  expectTypoError,
  HTTP_AUTH_NAMES,
  ROUTE_AUTH_NAMES,
  ROUTE_CONFIG_NAMES,
  rejected,
  thrown,
  typosOf,
  VERIFIER_NAMES,
} from "../support/option-names.js";

const API = "https://api.example.com";
let ks: KeyServer;
let verifier: Verifier;
const config = () => ({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });

beforeAll(async () => {
  ks = await startKeyServer();
  verifier = createVerifier(config());
});
afterAll(() => ks.close());

const ok = () => new Response("ok");
const request = () => new Request("http://127.0.0.1/data");

/** Registers the plugin with `options`; what `ready()` rejects with. */
async function fastifyRejects(options: object): Promise<unknown> {
  const app = Fastify();
  try {
    return await rejected(app.register(m2mAuth, options as never).ready());
  } finally {
    await app.close();
  }
}

/** Each adapter: a call with (first argument, second argument) that throws or rejects at creation. */
const adapters: Array<{
  name: string;
  own: readonly string[];
  make: (config: object, options?: object) => Promise<unknown>;
}> = [
  {
    name: "requireAuth",
    own: ADAPTER_NAMES.express,
    make: async (c, o) => thrown(() => requireAuth(c as never, o as never)),
  },
  {
    name: "honoAuth",
    own: ADAPTER_NAMES.hono,
    make: async (c, o) => thrown(() => honoAuth(c as never, o as never)),
  },
  {
    name: "withAuth",
    own: ADAPTER_NAMES.withAuth,
    make: async (c, o) => thrown(() => withAuth(ok, c as never, o as never)),
  },
  {
    name: "authenticate",
    own: ADAPTER_NAMES.authenticate,
    make: (c, o) => rejected(authenticate(request(), c as never, o as never)),
  },
];

describe("typos of every option name are refused, naming the option they misspell", () => {
  for (const { name, own, make } of adapters) {
    it(`${name}: first argument (verifier and adapter options)`, async () => {
      const names = [...VERIFIER_NAMES, ...HTTP_AUTH_NAMES, ...own];
      for (const [typo, meant] of typosOf(names)) {
        const error = await make({ ...config(), [typo]: true });
        expectTypoError(error, typo, meant);
        expect((error as Error).message).toContain(`of ${name}()`);
      }
    });

    it(`${name}: { verifier } form and the options argument (adapter options)`, async () => {
      const names = [...HTTP_AUTH_NAMES, ...own];
      for (const [typo, meant] of typosOf(names)) {
        expectTypoError(await make({ verifier, [typo]: true }), typo, meant);
        const error = await make(verifier, { [typo]: true });
        expectTypoError(error, typo, meant);
        expect((error as Error).message).toMatch(
          new RegExp(`of ${name}\\(\\) \\((second|third) argument\\)`),
        );
      }
    });
  }

  it("honoAuth with a config function: the options argument at creation", () => {
    for (const [typo, meant] of typosOf([...HTTP_AUTH_NAMES, ...ADAPTER_NAMES.hono])) {
      expectTypoError(
        thrown(() => honoAuth(() => config(), { [typo]: true } as never)),
        typo,
        meant,
      );
    }
  });

  it("Fastify plugin options (with Fastify's own prefix, logLevel, logSerializers)", async () => {
    const names = [...VERIFIER_NAMES, ...HTTP_AUTH_NAMES, ...ADAPTER_NAMES.fastify];
    for (const [typo, meant] of typosOf(names)) {
      const error = await fastifyRejects({ ...config(), [typo]: true });
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of fastify.register(m2mAuth)");
    }
    for (const [typo, meant] of typosOf([...HTTP_AUTH_NAMES, ...ADAPTER_NAMES.fastify])) {
      expectTypoError(await fastifyRejects({ verifier, [typo]: true }), typo, meant);
    }
    // Fastify's registration options and the adapter's are accepted beside verifier options.
    expect(
      await fastifyRejects({ ...config(), prefix: "/api", logLevel: "warn", global: true }),
    ).toBeUndefined();
  });

  it("fastify.requireAuth(options)", async () => {
    const app = Fastify();
    await app.register(m2mAuth, { verifier });
    try {
      for (const [typo, meant] of typosOf(ROUTE_AUTH_NAMES)) {
        const error = thrown(() => app.requireAuth({ [typo]: ["read"] } as never));
        expectTypoError(error, typo, meant);
        expect((error as Error).message).toContain("of fastify.requireAuth()");
      }
    } finally {
      await app.close();
    }
  });

  it("Fastify route config: near-misses of scopes, anyScope and auth; other plugins' keys pass", async () => {
    for (const [typo, meant] of [...typosOf(ROUTE_CONFIG_NAMES), ["requiredScopes", "scopes"]]) {
      const app = Fastify();
      await app.register(m2mAuth, { verifier });
      const error = await rejected(
        (async () => {
          app.get("/orders", { config: { [typo as string]: ["read"] } as never }, async () => ({ ok: true }));
          await app.ready();
        })(),
      );
      await app.close();
      expect(error, typo).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain(
        `route GET /orders: config.${typo} is not an m2m-kit route option`,
      );
      expect((error as Error).message).toContain(`did you mean config.${meant}?`);
    }
    const app = Fastify();
    await app.register(m2mAuth, { verifier });
    app.get(
      "/other",
      { config: { rateLimit: { max: 5 }, path: "x", cors: true } as never },
      async () => "ok",
    );
    await app.ready();
    await app.close();
  });

  it("nested options name their path and the adapter: jwks, dpop, introspection, issuers[i]", async () => {
    expectTypoError(
      thrown(() => requireAuth({ ...config(), jwks: { cooldownM: 1 } } as never)),
      "cooldownM",
      "cooldownMs",
      "jwks.",
    );
    expect(thrown(() => honoAuth({ ...config(), dpop: { requird: true } } as never))).toHaveProperty(
      "message",
      "dpop.requird is not an option of honoAuth(); did you mean dpop.required?",
    );
    const issuers = [{ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri, scopeClam: "scp" }];
    expect(((await fastifyRejects({ issuers })) as Error).message).toBe(
      "issuers[0].scopeClam is not an option of fastify.register(m2mAuth); did you mean issuers[0].scopeClaim?",
    );
  });
});

/** A GET of `path` with the token; the status. */
async function statusOf(url: string, token?: string): Promise<number> {
  const response = await fetch(
    url,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  await response.body?.cancel();
  return response.status;
}

describe("misspelt options that used to leave a real server open", () => {
  it("Express requireAuth({ …, requiredScope }) is refused; with requiredScopes a token without the scope gets 403", async () => {
    const error = thrown(() => requireAuth({ ...config(), requiredScope: ["read:data"] } as never));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(
      "requiredScope is not an option of requireAuth(); did you mean requiredScopes?",
    );
    const app = express();
    app.get("/data", requireAuth({ ...config(), requiredScopes: ["read:data"] }), (_req, res) => {
      res.send("ok");
    });
    const server = await listen(createServer(app));
    try {
      expect(await statusOf(`${server.url}/data`, await ks.sign({ scope: "write:data" }))).toBe(403);
      expect(await statusOf(`${server.url}/data`, await ks.sign({ scope: "read:data" }))).toBe(200);
    } finally {
      await server.close();
    }
  });

  it("requireCertificateBoundToken (no s) is refused in either argument; with the right name an unbound token gets 401", async () => {
    expect(
      thrown(() => requireAuth({ ...config(), requireCertificateBoundToken: true } as never)),
    ).toHaveProperty(
      "message",
      "requireCertificateBoundToken is not an option of requireAuth(); did you mean requireCertificateBoundTokens?",
    );
    const error = thrown(() => requireAuth(verifier, { requireCertificateBoundToken: true } as never));
    expect((error as Error).message).toBe(
      "requireCertificateBoundToken is not an option of requireAuth() (second argument); did you mean requireCertificateBoundTokens?",
    );
    const app = express();
    app.get("/data", requireAuth(verifier, { requireCertificateBoundTokens: true }), (_req, res) => {
      res.send("ok");
    });
    const server = await listen(createServer(app));
    try {
      const response = await fetch(`${server.url}/data`, {
        headers: { authorization: `Bearer ${await ks.sign()}` },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    } finally {
      await server.close();
    }
  });

  it("Fastify { globl: true } is refused at registration; with global: true every route needs a token", async () => {
    for (const options of [
      { ...config(), globl: true },
      { verifier, globl: true },
    ]) {
      const error = await fastifyRejects(options);
      expect((error as Error).message).toBe(
        "globl is not an option of fastify.register(m2mAuth); did you mean global?",
      );
    }
    const app = Fastify();
    await app.register(m2mAuth, { ...config(), global: true });
    app.get("/data", async () => ({ ok: true }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = app.server.address() as { port: number };
      expect(await statusOf(`http://127.0.0.1:${port}/data`)).toBe(401);
      expect(await statusOf(`http://127.0.0.1:${port}/data`, await ks.sign())).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("a Fastify route with config: { scope: [...] } does not start; with scopes it answers 403 without the scope", async () => {
    const refused = Fastify();
    await refused.register(m2mAuth, { verifier });
    const error = await rejected(
      (async () => {
        refused.get("/data", { config: { scope: ["read:data"] } as never }, async () => ({ ok: true }));
        await refused.ready();
      })(),
    );
    await refused.close();
    expect((error as Error).message).toBe(
      "route GET /data: config.scope is not an m2m-kit route option (scopes, anyScope or auth); did you mean config.scopes?",
    );
    const app = Fastify();
    await app.register(m2mAuth, { verifier });
    app.get("/data", { config: { scopes: ["read:data"] } }, async () => ({ ok: true }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = app.server.address() as { port: number };
      expect(await statusOf(`http://127.0.0.1:${port}/data`, await ks.sign({ scope: "write:data" }))).toBe(
        403,
      );
      expect(await statusOf(`http://127.0.0.1:${port}/data`, await ks.sign({ scope: "read:data" }))).toBe(
        200,
      );
    } finally {
      await app.close();
    }
  });
});

describe("configured scopes are RFC 6749 §3.3 scope tokens, checked at creation", () => {
  const badScopes = ["read:data\r\nx-injected: 1", "lire:donnée", 'read "data"', "a\\b", "read\tdata"];

  const expectScopeError = (error: unknown, option: string) => {
    expect(error, option).toBeInstanceOf(TypeError);
    expect((error as Error).message, option).toContain(`${option} must hold RFC 6749 §3.3 scope tokens`);
  };

  it("Express: requiredScopes (either argument), requireScopes, requireAnyScope", () => {
    for (const scope of badScopes) {
      expectScopeError(
        thrown(() => requireAuth(verifier, { requiredScopes: [scope] })),
        "requiredScopes",
      );
      expectScopeError(
        thrown(() => requireAuth({ ...config(), requiredScopes: scope })),
        "requiredScopes",
      );
      expectScopeError(
        thrown(() => requireAuth(verifier, { requiredScopes: { anyOf: ["read", scope] } })),
        "requiredScopes.anyOf",
      );
      expectScopeError(
        thrown(() => requireScopes("read", scope)),
        "requireScopes",
      );
      expectScopeError(
        thrown(() => requireAnyScope(scope)),
        "requireAnyScope",
      );
    }
  });

  it("Fastify: plugin requiredScopes, route config.scopes and config.anyScope, requireScopes, requireAnyScope, requireAuth({ scopes })", async () => {
    for (const scope of badScopes) {
      expectScopeError(await fastifyRejects({ verifier, requiredScopes: [scope] }), "requiredScopes");
      for (const key of ["scopes", "anyScope"]) {
        const app = Fastify();
        await app.register(m2mAuth, { verifier });
        const error = await rejected(
          (async () => {
            app.get("/data", { config: { [key]: [scope] } }, async () => ({ ok: true }));
            await app.ready();
          })(),
        );
        await app.close();
        expectScopeError(error, `route GET /data: config.${key}`);
      }
      const app = Fastify();
      await app.register(m2mAuth, { verifier });
      try {
        expectScopeError(
          thrown(() => app.requireScopes(scope)),
          "requireScopes",
        );
        expectScopeError(
          thrown(() => app.requireAnyScope(scope)),
          "requireAnyScope",
        );
        expectScopeError(
          thrown(() => app.requireAuth({ scopes: [scope] })),
          "scopes",
        );
        expectScopeError(
          thrown(() => app.requireAuth({ anyScope: [scope] })),
          "anyScope",
        );
      } finally {
        await app.close();
      }
    }
  });

  it("Hono and the web adapter: requiredScopes, requireScopes, requireAnyScope", async () => {
    for (const scope of badScopes) {
      expectScopeError(
        thrown(() => honoAuth(verifier, { requiredScopes: [scope] })),
        "requiredScopes",
      );
      expectScopeError(
        thrown(() => honoAuth({ ...config(), requiredScopes: [scope] })),
        "requiredScopes",
      );
      expectScopeError(
        thrown(() => honoRequireScopes(scope)),
        "requireScopes",
      );
      expectScopeError(
        thrown(() => honoRequireAnyScope(scope)),
        "requireAnyScope",
      );
      expectScopeError(
        thrown(() => withAuth(ok, verifier, { requiredScopes: [scope] })),
        "requiredScopes",
      );
      expectScopeError(
        await rejected(authenticate(request(), verifier, { requiredScopes: [scope] })),
        "requiredScopes",
      );
    }
  });

  it("valid scope tokens (URLs, colons, dots) are accepted", async () => {
    const scopes = [
      "read:data",
      "https://api.example.com/orders.read",
      "api://x/.default",
      "a!#$%&'()*+,-./",
    ];
    expect(thrown(() => requireAuth(verifier, { requiredScopes: scopes }))).toBeUndefined();
    expect(thrown(() => requireScopes(...scopes))).toBeUndefined();
    expect(thrown(() => honoRequireAnyScope(...scopes))).toBeUndefined();
    expect(await fastifyRejects({ verifier, requiredScopes: scopes.join(" ") })).toBeUndefined();
  });
});

describe("the promise-returning adapter function rejects on bad arguments, never throws", () => {
  it("authenticate(request, null) and authenticate(request, verifier, null)", async () => {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = authenticate(request(), null as never);
    }).not.toThrow();
    expect(await rejected(promise as Promise<unknown>)).toBeInstanceOf(TypeError);
    expect(() => {
      promise = authenticate(request(), verifier, null as never);
    }).not.toThrow();
    expect(await rejected(promise as Promise<unknown>)).toBeInstanceOf(TypeError);
  });

  it("a Hono app with a scope list fixed at creation still answers with WWW-Authenticate", async () => {
    const app = new Hono().get("/data", honoAuth(verifier, { requiredScopes: ["read:data"] }), (c) =>
      c.text("ok"),
    );
    const res = await app.request("/data", { headers: { authorization: `Bearer ${await ks.sign()}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain('scope="read:data"');
  });
});
