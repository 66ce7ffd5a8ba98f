/**
 * The authorization server of the runtime suite, on 127.0.0.1: discovery, a JWKS whose keys rotate,
 * and a client credentials token endpoint that issues JWTs (RS256). JWKS answers can be held back
 * to show what a runtime does with a fetch still open when its request ends.
 */
import { createServer, type ServerResponse } from "node:http";
import { type JWTPayload, SignJWT } from "jose";
import { listen } from "../support/http.js";
import { createTestKey, type SigningAlg, type TestKey } from "../support/key-server.js";

export const AUDIENCE = "https://api.example.com";
export const CLIENT_ID = "runtime-client";
export const CLIENT_SECRET = "runtime-secret";

export interface RuntimeIssuer {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  /** Keys in the JWKS, in order. */
  keys: TestKey[];
  readonly jwksFetches: number;
  /** Requests for the discovery document. */
  readonly discoveryRequests: number;
  readonly tokenRequests: number;
  /** While true, JWKS requests wait until `release()`. */
  hold: boolean;
  release(): void;
  /** Adds a key of `alg` to the JWKS (and returns it). */
  addKey(alg: SigningAlg): Promise<TestKey>;
  removeKey(kid: string): void;
  /** A key that is not in the JWKS, with the `kid` of one that is (a forgery). */
  forge(kid: string): Promise<string>;
  sign(key: TestKey, claims?: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export async function startRuntimeIssuer(): Promise<RuntimeIssuer> {
  let url = "";
  let jwksFetches = 0;
  let discoveryRequests = 0;
  let tokenRequests = 0;
  let tokenCounter = 0;
  const held: ServerResponse[] = [];
  const tokenKey = await createTestKey("RS256", "token-key");

  const sign = (key: TestKey, claims: JWTPayload = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: url,
      aud: AUDIENCE,
      iat: now,
      exp: now + 3600,
      client_id: CLIENT_ID,
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
      .sign(key.privateKey);
  };

  const state: RuntimeIssuer = {
    issuer: "",
    jwksUri: "",
    tokenEndpoint: "",
    keys: [],
    get jwksFetches() {
      return jwksFetches;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    hold: false,
    release() {
      state.hold = false;
      for (const res of held.splice(0)) answerJwks(res);
    },
    async addKey(alg) {
      const key = await createTestKey(alg);
      state.keys.push(key);
      return key;
    },
    removeKey(kid) {
      state.keys = state.keys.filter((key) => key.kid !== kid);
    },
    async forge(kid) {
      const other = await createTestKey("RS256", kid);
      return sign(other, { scope: "read:data" });
    },
    sign,
    close: async () => {},
  };

  function answerJwks(res: ServerResponse) {
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [...state.keys, tokenKey].map((key) => key.publicJwk) }));
  }

  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const path = new URL(req.url ?? "/", url).pathname;
    if (path === "/.well-known/openid-configuration") {
      discoveryRequests++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer: url,
          jwks_uri: `${url}/jwks`,
          token_endpoint: `${url}/token`,
          token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
          grant_types_supported: ["client_credentials"],
        }),
      );
    } else if (path === "/jwks") {
      jwksFetches++;
      if (state.hold) held.push(res);
      else answerJwks(res);
    } else if (path === "/token" && req.method === "POST") {
      tokenRequests++;
      const form = new URLSearchParams(body);
      const basic = req.headers.authorization?.startsWith("Basic ")
        ? Buffer.from(req.headers.authorization.slice(6), "base64").toString()
        : `${form.get("client_id")}:${form.get("client_secret")}`;
      if (form.get("grant_type") !== "client_credentials" || basic !== `${CLIENT_ID}:${CLIENT_SECRET}`) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "invalid_client" }));
        return;
      }
      tokenCounter++;
      const accessToken = await sign(tokenKey, {
        aud: form.get("resource") ?? form.get("audience") ?? AUDIENCE,
        scope: form.get("scope") ?? "read:data",
        jti: `t${tokenCounter}`,
      });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ access_token: accessToken, token_type: "Bearer", expires_in: 3600 }));
    } else {
      res.writeHead(404).end();
    }
  });
  const listening = await listen(server);
  url = listening.url;
  state.issuer = url;
  state.jwksUri = `${url}/jwks`;
  state.tokenEndpoint = `${url}/token`;
  state.close = async () => {
    state.release();
    await listening.close();
  };
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) await state.addKey(alg);
  return state;
}
