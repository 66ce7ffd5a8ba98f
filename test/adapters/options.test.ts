import { createServer } from "node:http";
import express, { type Response as ExpressResponse, type NextFunction, type Request } from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { type AuthenticatedRequest, HttpAuthError, requireAuth } from "../../src/express/index.js";
import { m2mAuth } from "../../src/fastify/index.js";
import { honoAuth } from "../../src/hono/index.js";
import {
  type AuthResult,
  HttpAuthError as CoreHttpAuthError,
  createVerifier,
  type Verifier,
} from "../../src/index.js";
import { authenticate, withAuth } from "../../src/web/index.js";
import { listen } from "../support/http.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
let ks: KeyServer;
let verifier: Verifier;
beforeAll(async () => {
  ks = await startKeyServer();
  verifier = createVerifier({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
});
afterAll(() => ks.close());

const problem = (error: HttpAuthError) => ({
  contentType: "application/problem+json",
  body: JSON.stringify({
    type: `https://errors.example.com/${error.error}`,
    status: error.status,
    detail: error.errorDescription,
  }),
});

describe("Express options", () => {
  it("passErrors hands an error with status and headers to the app's error handler", async () => {
    const app = express();
    app.get(
      "/data",
      requireAuth(verifier, { passErrors: true, requiredScopes: ["read:data"] }),
      (_req, res) => {
        res.send("ok");
      },
    );
    app.use((err: unknown, _req: Request, res: ExpressResponse, _next: NextFunction) => {
      const e = err as HttpAuthError;
      res
        .status(e.status)
        .set(e.headers)
        .json({ handledBy: "app", code: e.code, isHttpAuthError: e instanceof HttpAuthError });
    });
    const server = await listen(createServer(app));
    try {
      const res = await fetch(`${server.url}/data`, {
        headers: { authorization: `Bearer ${await ks.sign({ scope: "x" })}` },
      });
      expect(res.status).toBe(403);
      expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
      expect(await res.json()).toEqual({
        handledBy: "app",
        code: "ERR_INSUFFICIENT_SCOPE",
        isHttpAuthError: true,
      });
    } finally {
      await server.close();
    }
  });

  it("passErrors also works with Express's own error handler (status and headers kept)", async () => {
    const app = express();
    app.get("/data", requireAuth(verifier, { passErrors: true }), (_req, res) => {
      res.send("ok");
    });
    const server = await listen(createServer(app));
    try {
      const res = await fetch(`${server.url}/data`, { headers: { authorization: "Bearer a.b.c" } });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    } finally {
      await server.close();
    }
  });

  it("errorBody shapes the body; status and WWW-Authenticate stay", async () => {
    const app = express();
    app.get("/data", requireAuth(verifier, { errorBody: problem }), (_req, res) => {
      res.send("ok");
    });
    const server = await listen(createServer(app));
    try {
      const res = await fetch(`${server.url}/data`, { headers: { authorization: "Bearer a.b.c" } });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
      expect(await res.json()).toEqual({
        type: "https://errors.example.com/invalid_token",
        status: 401,
        detail: "token header is not JSON",
      });
    } finally {
      await server.close();
    }
  });

  it("allowQueryToken accepts ?access_token=", async () => {
    const app = express();
    app.get("/data", requireAuth(verifier, { allowQueryToken: true }), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    const server = await listen(createServer(app));
    try {
      const res = await fetch(`${server.url}/data?access_token=${await ks.sign({ client_id: "q" })}`);
      expect(await res.json()).toEqual({ client: "q" });
    } finally {
      await server.close();
    }
  });
});

describe("Fastify options", () => {
  it("global: true protects every route; config.auth false opts one out", async () => {
    const app = Fastify();
    await app.register(m2mAuth, { issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri, global: true });
    app.get("/private", async (request) => ({ client: request.auth?.clientId }));
    app.get("/health", { config: { auth: false } }, async () => ({ ok: true }));
    app.get(
      "/scoped",
      { onRequest: app.requireAuth(), preHandler: app.requireScopes("admin") },
      async () => ({ ok: true }),
    );
    try {
      expect((await app.inject({ url: "/private" })).statusCode).toBe(401);
      expect((await app.inject({ url: "/health" })).json()).toEqual({ ok: true });
      const token = await ks.sign({ client_id: "svc", scope: "read" });
      const ok = await app.inject({ url: "/private", headers: { authorization: `Bearer ${token}` } });
      expect(ok.json()).toEqual({ client: "svc" });
      const scoped = await app.inject({ url: "/scoped", headers: { authorization: `Bearer ${token}` } });
      expect(scoped.statusCode).toBe(403);
      expect(scoped.headers["www-authenticate"]).toContain('scope="admin"');
    } finally {
      await app.close();
    }
  });

  it("passErrors sends failures through Fastify's error handler", async () => {
    const app = Fastify();
    await app.register(m2mAuth, { verifier, passErrors: true });
    app.setErrorHandler((error: HttpAuthError, _request, reply) => {
      reply.code(error.statusCode).headers(error.headers).send({ handledBy: "fastify", code: error.code });
    });
    app.get("/data", { config: { scopes: [] } }, async () => ({ ok: true }));
    try {
      const res = await app.inject({ url: "/data" });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toBe("Bearer");
      expect(res.json()).toEqual({ handledBy: "fastify", code: "ERR_HTTP_UNAUTHORIZED" });
    } finally {
      await app.close();
    }
  });
});

describe("types", () => {
  it("req.auth, request.auth and c.get('auth') are typed", async () => {
    const app = express();
    app.get("/", requireAuth(verifier), (req) => {
      expectTypeOf(req.auth).toEqualTypeOf<AuthResult | undefined>();
      const typed = req as AuthenticatedRequest<{ tenant: string }>;
      expectTypeOf(typed.auth.claims.tenant).toEqualTypeOf<string>();
    });
    const fastify = Fastify();
    fastify.get("/", async (request) => {
      expectTypeOf(request.auth).toEqualTypeOf<AuthResult | null>();
    });
    const hono = new Hono();
    hono.use(honoAuth(verifier));
    hono.get("/", (c) => {
      // Hono cannot see a middleware added on another statement: the route may be unprotected.
      expectTypeOf(c.get("auth")).toEqualTypeOf<AuthResult | undefined>();
      return c.text("ok");
    });
    const result = await authenticate(new Request("http://127.0.0.1/"), verifier);
    expectTypeOf(result).toEqualTypeOf<AuthResult | Response | undefined>();
    expect(result).toBeInstanceOf(Response);
    expect(HttpAuthError).toBe(CoreHttpAuthError);
  });
});

describe("form-body tokens (RFC 6750 §2.2), only when enabled", () => {
  it("Express: accepted with allowBodyToken; with the header too → 400", async () => {
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.post("/data", requireAuth(verifier, { allowBodyToken: true }), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    app.post("/strict", requireAuth(verifier), (req, res) => {
      res.json({ client: req.auth?.clientId });
    });
    const server = await listen(createServer(app));
    try {
      const token = await ks.sign({ client_id: "form" });
      const form = { "content-type": "application/x-www-form-urlencoded" };
      const ok = await fetch(`${server.url}/data`, {
        method: "POST",
        headers: form,
        body: `access_token=${token}`,
      });
      expect(await ok.json()).toEqual({ client: "form" });
      const both = await fetch(`${server.url}/data`, {
        method: "POST",
        headers: { ...form, authorization: `Bearer ${token}` },
        body: `access_token=${token}`,
      });
      expect(both.status).toBe(400);
      expect(both.headers.get("www-authenticate")).toContain("more than one method");
      const off = await fetch(`${server.url}/strict`, {
        method: "POST",
        headers: form,
        body: `access_token=${token}`,
      });
      expect(off.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it("fetch API: accepted with allowBodyToken, and the handler still reads the body", async () => {
    const token = await ks.sign({ client_id: "form" });
    const handler = withAuth(
      async (request, auth) =>
        Response.json({ client: auth.clientId, note: new URLSearchParams(await request.text()).get("note") }),
      verifier,
      { allowBodyToken: true },
    );
    const res = await handler(
      new Request("http://127.0.0.1/data", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `access_token=${token}&note=hi`,
      }),
    );
    expect(await res.json()).toEqual({ client: "form", note: "hi" });
  });
});

describe("bad adapter options are TypeErrors naming them, when the adapter is created", () => {
  const config = () => ({ issuer: ks.issuer, audience: API, jwksUri: ks.jwksUri });
  // Each adapter with its own options' bad values (another adapter's option is an unknown name there).
  const factories: Array<[string, (config: object, options?: object) => unknown, Array<[object, RegExp]>]> = [
    [
      "requireAuth",
      (c, o) => requireAuth(c as never, o as never),
      [[{ passErrors: "true" }, /passErrors must be a boolean/]],
    ],
    [
      "honoAuth",
      (c, o) => honoAuth(c as never, o as never),
      [[{ httpException: 1 }, /httpException must be a boolean/]],
    ],
    [
      "honoAuth(config function)",
      (c, o) => honoAuth(() => c as never, o as never),
      [[{ httpException: 1 }, /httpException must be a boolean/]],
    ],
    ["withAuth", (c, o) => withAuth(() => new Response("ok"), c as never, o as never), []],
  ];
  const bad: Array<[object, RegExp]> = [
    [{ optional: "false" }, /optional must be a boolean/],
    [{ optional: 1 }, /optional must be a boolean/],
    [{ allowQueryToken: "yes" }, /allowQueryToken must be a boolean/],
    [{ allowBodyToken: "no" }, /allowBodyToken must be a boolean/],
    [{ realm: 5 }, /realm must be a string/],
    [{ realm: "a\r\nb" }, /realm must be a string/],
    [{ errorBody: "x" }, /errorBody must be a function/],
    [{ onEvent: {} }, /onEvent must be a function/],
    [{ requiredScopes: 5 }, /requiredScopes must be/],
    [{ requiredScopes: "" }, /requiredScopes must name at least one scope/],
    [{ requiredScopes: "  " }, /requiredScopes must name at least one scope/],
    [{ requiredScopes: { anyOf: ["a"], allOf: ["b"] } }, /requiredScopes must be \{ anyOf \} or \{ allOf \}/],
  ];

  for (const [name, make, own] of factories) {
    it(`${name}: in the options and in the config; with a verifier or verifier options`, () => {
      for (const [option, message] of [...bad, ...own]) {
        expect(() => make(verifier, option), `${name} ${JSON.stringify(option)}`).toThrow(message);
        // A config function's result is checked on the first request it returns it (documented).
        if (!name.includes("function")) {
          expect(() => make({ verifier, ...option }), `${name} ${JSON.stringify(option)}`).toThrow(message);
          expect(() => make({ ...config(), ...option }), `${name} ${JSON.stringify(option)}`).toThrow(
            message,
          );
        }
      }
    });

    it(`${name}: verifier options beside a verifier are refused, not ignored`, () => {
      expect(() => make(verifier, { audience: "x" })).toThrow(
        /audience is not an option of \w+\(\) \((second|third) argument\): verifier options go in the first argument/,
      );
      if (name.includes("function")) return;
      expect(() => make({ verifier, issuer: "https://other.example.com/", audience: "x" })).toThrow(
        /issuer is a verifier option: give verifier options or a verifier, not both/,
      );
      expect(() => make({ verifier, audience: "x" })).toThrow(/audience is a verifier option/);
    });
  }

  it("Fastify: bad plugin options and route options fail at registration", async () => {
    for (const [option, message] of [
      ...bad,
      [{ global: "true" }, /global must be a boolean/],
      [{ passErrors: 1 }, /passErrors must be a boolean/],
    ] as Array<[object, RegExp]>) {
      const app = Fastify();
      await expect(app.register(m2mAuth, { verifier, ...option } as never).ready()).rejects.toThrow(message);
      await app.close();
      const withOptions = Fastify();
      await expect(
        withOptions.register(m2mAuth, { ...config(), ...option } as never).ready(),
      ).rejects.toThrow(message);
      await withOptions.close();
    }
    const mixed = Fastify();
    await expect(
      mixed.register(m2mAuth, { verifier, issuer: "https://other.example.com/" } as never).ready(),
    ).rejects.toThrow(/issuer is a verifier option/);
    await mixed.close();
    const app = Fastify();
    await app.register(m2mAuth, { verifier });
    expect(() => app.requireAuth({ optional: "false" as never })).toThrow(/optional must be a boolean/);
    await app.close();
  });

  it("a route stays protected: optional: false (the boolean) still answers 401 without a token", async () => {
    const app = express();
    app.get("/data", requireAuth(verifier, { optional: false }), (_req, res) => {
      res.send("ok");
    });
    const hono = new Hono().get("/data", honoAuth(verifier, { optional: false }), (c) => c.text("ok"));
    const server = await listen(createServer(app));
    try {
      expect((await fetch(`${server.url}/data`)).status).toBe(401);
      expect((await hono.request("/data")).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('a quoted realm with " and \\ is accepted and escaped in the challenge', async () => {
    const app = express();
    app.get("/data", requireAuth(verifier, { realm: 'my "api" \\ v1' }), (_req, res) => {
      res.send("ok");
    });
    const server = await listen(createServer(app));
    try {
      const res = await fetch(`${server.url}/data`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="my \\"api\\" \\\\ v1"');
    } finally {
      await server.close();
    }
  });
});

describe("a config function's bad result is refused on the request, never let through", () => {
  it("Hono: { verifier, audience } from a config function → 500, the route does not run", async () => {
    let ran = 0;
    const errors: unknown[] = [];
    const app = new Hono()
      .use(honoAuth(() => ({ verifier, audience: "x", optional: true }) as never))
      .get("/data", (c) => {
        ran++;
        return c.text("ok");
      });
    // The error reaches the app's error handler (Hono's default one would print it).
    app.onError((error, c) => {
      errors.push(error);
      return c.text("error", 500);
    });
    const res = await app.request("/data");
    expect(res.status).toBe(500);
    expect(ran).toBe(0);
    expect(errors).toEqual([
      expect.objectContaining({ name: "TypeError", message: expect.stringContaining("audience") }),
    ]);
  });
});
