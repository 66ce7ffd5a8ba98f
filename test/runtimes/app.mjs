/**
 * The application of the runtime suite, the same on every runtime: a fetch handler
 * `(request, env, ctx) => Response` (a Worker's shape) over the packed `m2m-kit`, with one client
 * and one verifier per process (or per Worker isolate) shared by every request. The suite's driver
 * calls it over HTTP.
 *
 *   GET  /token               client.getToken() → { accessToken }
 *   POST /verify?via=…        verifier.verify(bearer) via discovery or jwksUri → { clientId, alg } | 401 { code }
 *   GET  /api                 withAuth(…, { requiredScopes: ["read:data"] }) → { client } | RFC 6750 error
 *   POST /clock?client=&verifier=   moves the client's and the verifiers' clocks forward (ms)
 *
 * With `store: "cache-api"` (workerd), a third verifier keeps key sets and discovery documents in
 * the Cache API (`cacheApiStore`), shared with the next Worker process:
 *   POST /verify?via=store    that verifier
 *   GET  /store-writes        → { writes }: entries this isolate has written to the cache so far
 */
import { ClientCredentialsClient, createVerifier } from "m2m-kit";
import { cacheApiStore, withAuth } from "m2m-kit/web";

/** A clock the driver moves forward instead of waiting. */
function testClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    advance(ms) {
      offset += ms;
    },
  };
}

/**
 * @param {{ issuer: string, jwksUri: string, audience: string, clientId: string, clientSecret: string, lazy?: boolean, waitUntil?: boolean, store?: "cache-api" }} config
 *   `lazy`: make the client and verifiers in the first request instead of at module scope.
 *   `waitUntil: false`: a Worker that does not hand background work to `ctx.waitUntil`.
 */
export function createApp(config) {
  const clientClock = testClock();
  const verifierClock = testClock();
  const jwks = { cooldownMs: 30_000, cacheMaxAgeMs: 600_000 };
  let storeWrites = 0;

  const make = () => {
    const client = new ClientCredentialsClient({
      issuer: config.issuer,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      clock: clientClock,
      retry: false,
    });
    const viaDiscovery = createVerifier({
      issuer: config.issuer,
      audience: config.audience,
      clock: verifierClock,
      jwks,
    });
    const viaJwksUri = createVerifier({
      issuer: config.issuer,
      audience: config.audience,
      jwksUri: config.jwksUri,
      clock: verifierClock,
      jwks,
    });
    const api = withAuth(
      (_request, auth) => Response.json({ client: auth.clientId, scopes: auth.scopes }),
      viaDiscovery,
      { requiredScopes: ["read:data"], realm: "runtime-suite" },
    );
    let viaStore;
    if (config.store === "cache-api") {
      const cache = cacheApiStore({ namespace: "runtime-suite" });
      const store = {
        get: (key) => cache.get(key),
        async set(key, value, options) {
          await cache.set(key, value, options);
          storeWrites++;
        },
      };
      viaStore = createVerifier({
        issuer: config.issuer,
        audience: config.audience,
        clock: verifierClock,
        jwks: { ...jwks, store, integrityKey: "runtime-suite-integrity-key-0123456789abcdef" },
      });
    }
    return { client, viaDiscovery, viaJwksUri, viaStore, api };
  };

  let shared = config.lazy ? undefined : make();

  return async function handle(request, env, ctx) {
    shared ??= make();
    // A Worker hands background refreshes to the request's waitUntil; Node, Bun and Deno have none.
    const waitUntil = ctx && config.waitUntil !== false ? (promise) => ctx.waitUntil(promise) : undefined;
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case "/token": {
          const token = await shared.client.getToken({ waitUntil });
          return Response.json({ accessToken: token.accessToken, expiresAt: token.expiresAt });
        }
        case "/verify": {
          const via = url.searchParams.get("via");
          const verifier =
            via === "jwks" ? shared.viaJwksUri : via === "store" ? shared.viaStore : shared.viaDiscovery;
          const token = (request.headers.get("authorization") ?? "").replace(/^Bearer /, "");
          try {
            const auth = await verifier.verify(token, { waitUntil });
            return Response.json({ clientId: auth.clientId, alg: auth.header.alg });
          } catch (error) {
            return Response.json({ code: error.code, name: error.name }, { status: 401 });
          }
        }
        case "/store-writes":
          return Response.json({ writes: storeWrites });
        case "/api":
          return await shared.api(request, env, ctx);
        case "/clock":
          clientClock.advance(Number(url.searchParams.get("client") ?? 0));
          verifierClock.advance(Number(url.searchParams.get("verifier") ?? 0));
          return new Response(null, { status: 204 });
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (error) {
      return Response.json({ unexpected: String(error?.stack ?? error) }, { status: 500 });
    }
  };
}
