/**
 * Options read from the request's environment (Workers bindings, Hono's `c.env`): `honoAuth((c) => …)`
 * and `withAuth(handler, (request, env) => …)` keep one verifier per distinct configuration, not one
 * per request. Hono's `HTTPException` option lets `app.onError` see every failure.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { honoAuth } from "../../src/hono/index.js";
import { withAuth } from "../../src/web/index.js";
import { serveFetch } from "../support/fetch-server.js";
import { type KeyServer, startKeyServer } from "../support/key-server.js";

const API_A = "https://a.example.com";
const API_B = "https://b.example.com";

interface Env {
  ISSUER: string;
  AUDIENCE: string;
}

let ks: KeyServer;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ks = await startKeyServer();
});

afterAll(async () => {
  for (const close of closers) await close();
  await ks.close();
});

/** Serves `handler` with an `env` chosen by the request's `x-tenant` header, as bindings would be. */
async function serveWithEnv(handler: (request: Request, env: Env) => Response | Promise<Response>) {
  const server = await serveFetch((request) =>
    handler(request, {
      ISSUER: ks.issuer,
      AUDIENCE: request.headers.get("x-tenant") === "b" ? API_B : API_A,
    }),
  );
  closers.push(() => server.close());
  return server.url;
}

async function call(url: string, tenant: "a" | "b", token: string) {
  const response = await fetch(`${url}/data`, {
    headers: { authorization: `Bearer ${token}`, "x-tenant": tenant },
  });
  return {
    status: response.status,
    body: await response.text(),
    challenge: response.headers.get("www-authenticate"),
  };
}

describe("options as a function of the request", () => {
  const cases: [string, () => Promise<string>][] = [
    [
      "honoAuth((c) => options)",
      () => {
        const app = new Hono<{ Bindings: Env }>();
        app
          .use(
            "/data",
            honoAuth((c) => ({ issuer: c.env.ISSUER, audience: c.env.AUDIENCE })),
          )
          .get("/data", (c) => c.json({ client: c.get("auth").clientId }));
        return serveWithEnv((request, env) => app.fetch(request, env));
      },
    ],
    [
      "withAuth(handler, (request, env) => options)",
      () =>
        serveWithEnv(
          withAuth(
            (_request, auth, _env: Env) => Response.json({ client: auth.clientId }),
            (_request, env: Env) => ({ issuer: env.ISSUER, audience: env.AUDIENCE }),
          ),
        ),
    ],
  ];

  it.each(cases)("%s: each tenant's audience, one verifier per configuration", async (_name, serve) => {
    const url = await serve();
    const fetchesBefore = ks.jwksFetches;
    const forA = await ks.sign({ client_id: "svc-a", aud: API_A });
    const forB = await ks.sign({ client_id: "svc-b", aud: API_B });
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await call(url, "a", forA), await call(url, "b", forB));
    }
    expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual(
      Array.from({ length: 3 }, () => ['200 {"client":"svc-a"}', '200 {"client":"svc-b"}']).flat(),
    );
    const wrong = await call(url, "b", forA);
    expect(wrong.status).toBe(401);
    expect(wrong.challenge).toMatch(/error="invalid_token"/);
    // Two configurations, two key caches: the JWKS was fetched once for each, not once per request.
    expect(ks.jwksFetches - fetchesBefore).toBe(2);
  });
});

describe("honoAuth with httpException: true", () => {
  it("throws HTTPException carrying the RFC 6750 response to app.onError", async () => {
    const app = new Hono();
    const seen: string[] = [];
    app.get(
      "/data",
      honoAuth({ issuer: ks.issuer, audience: API_A }, { httpException: true, realm: "api" }),
      (c) => c.json({ client: c.get("auth").clientId }),
    );
    app.onError((error, c) => {
      if (!(error instanceof HTTPException)) return c.text("unexpected", 500);
      const response = error.getResponse();
      seen.push(`${response.status} ${response.headers.get("www-authenticate")}`);
      return response;
    });
    const server = await serveFetch((request) => app.fetch(request));
    closers.push(() => server.close());

    const none = await fetch(`${server.url}/data`);
    const bad = await fetch(`${server.url}/data`, {
      headers: { authorization: `Bearer ${await ks.sign({ aud: API_B })}` },
    });
    const good = await fetch(`${server.url}/data`, {
      headers: { authorization: `Bearer ${await ks.sign({ client_id: "svc", aud: API_A })}` },
    });
    expect([none.status, bad.status, good.status]).toEqual([401, 401, 200]);
    expect(await bad.json()).toMatchObject({ error: "invalid_token" });
    expect(seen).toEqual([
      '401 Bearer realm="api"',
      expect.stringMatching(/^401 Bearer realm="api", error="invalid_token"/),
    ]);
  });
});
