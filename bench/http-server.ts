/**
 * One API server for bench/http.ts, in its own process (the load generator gets the other core).
 * Usage: tsx bench/http-server.ts <scenario>; env ISSUER, JWKS_URI, PUBLIC_PEM, BENCH_HTTP_PROFILE.
 * Prints "ready <port>".
 */
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Session } from "node:inspector";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import fastifyJwt from "@fastify/jwt";
import express from "express";
import { auth as auth0Auth } from "express-oauth2-jwt-bearer";
import Fastify from "fastify";
import { Hono } from "hono";
import { requireAuth } from "../dist/express.js";
import m2mAuth from "../dist/fastify.js";
import { honoAuth } from "../dist/hono.js";
import { createVerifier } from "../dist/index.js";

const AUDIENCE = "https://api.example.com";
const issuer = process.env.ISSUER as string;
const jwksUri = process.env.JWKS_URI as string;
const scenario = process.argv[2] as string;
const body = { ok: true };

function ready(port: number) {
  process.stdout.write(`ready ${port}\n`);
}

async function expressApp(protect: "none" | "m2m-kit" | "express-oauth2-jwt-bearer") {
  const app = express();
  if (protect === "m2m-kit") {
    const verifier = createVerifier({ issuer, audience: AUDIENCE, jwksUri });
    await verifier.warmUp();
    app.use(requireAuth(verifier));
  }
  if (protect === "express-oauth2-jwt-bearer") {
    app.use(auth0Auth({ issuer, jwksUri, audience: AUDIENCE, tokenSigningAlg: "RS256" }));
  }
  app.get("/data", (_req, res) => {
    res.json(body);
  });
  const server = createServer(app).listen(0, "127.0.0.1", () =>
    ready((server.address() as AddressInfo).port),
  );
}

async function fastifyApp(protect: "none" | "m2m-kit" | "@fastify/jwt" | "@fastify/jwt (cache on)") {
  const app = Fastify();
  if (protect === "m2m-kit") {
    const verifier = createVerifier({ issuer, audience: AUDIENCE, jwksUri });
    await verifier.warmUp();
    await app.register(m2mAuth, { verifier, global: true });
  }
  if (protect.startsWith("@fastify/jwt")) {
    await app.register(fastifyJwt, {
      secret: { public: process.env.PUBLIC_PEM as string, private: "unused" },
      verify: { allowedIss: issuer, allowedAud: AUDIENCE, cache: protect.endsWith("(cache on)") },
    });
    app.addHook("onRequest", async (request) => {
      await request.jwtVerify();
    });
  }
  app.get("/data", async () => body);
  await app.listen({ port: 0, host: "127.0.0.1" });
  ready((app.server.address() as AddressInfo).port);
}

async function honoApp(protect: "none" | "m2m-kit") {
  const app = new Hono();
  if (protect === "m2m-kit") {
    const verifier = createVerifier({ issuer, audience: AUDIENCE, jwksUri });
    await verifier.warmUp();
    app.use(honoAuth(verifier));
  }
  app.get("/data", (c) => c.json(body));
  const server = createServer(async (req, res) => {
    const response = await app.fetch(
      new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers: req.headers as Record<string, string>,
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(await response.text());
  }).listen(0, "127.0.0.1", () => ready((server.address() as AddressInfo).port));
}

const [framework, protect] = scenario.split(":") as [string, string];
if (framework === "express") await expressApp(protect as never);
else if (framework === "fastify") await fastifyApp(protect as never);
else if (framework === "hono") await honoApp(protect as never);
else throw new Error(`unknown scenario ${scenario}`);

// BENCH_HTTP_PROFILE=<dir>: SIGUSR2 (sent after the warm-up) starts a CPU profile of the measured
// period; SIGTERM writes it as <dir>/<scenario>.cpuprofile (open it in Chrome DevTools) and exits.
const profileDir = process.env.BENCH_HTTP_PROFILE;
const profiler = profileDir === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  process.on("SIGUSR2", () => {
    profiler.post("Profiler.enable", () => profiler.post("Profiler.start"));
  });
}
function exit() {
  if (profiler === undefined || profileDir === undefined) process.exit(0);
  profiler.post("Profiler.stop", (error, result) => {
    if (error === null) {
      const name = scenario.replace(/[^a-z0-9-]+/gi, "_");
      writeFileSync(join(profileDir, `${name}.cpuprofile`), JSON.stringify(result.profile));
    }
    process.exit(0);
  });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, exit);
