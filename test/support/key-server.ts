/**
 * A local issuer for verifier tests: discovery and a JWKS on 127.0.0.1 with keys that can be added,
 * removed and rotated, an on/off switch, request counters, and a signer for crafted tokens.
 */
import { createServer } from "node:http";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { listen } from "./http.js";

export type SigningAlg =
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512"
  | "EdDSA"
  | "Ed25519";

export interface TestKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export interface KeyServer {
  issuer: string;
  jwksUri: string;
  /** Requests per path. */
  hits: Map<string, number>;
  readonly jwksFetches: number;
  keys: TestKey[];
  addKey(alg?: SigningAlg, kid?: string, extra?: Partial<JWK>): Promise<TestKey>;
  removeKey(kid: string): void;
  /** "up", "503" (answers 503) or "reset" (destroys the socket). */
  mode: "up" | "503" | "reset";
  cacheControl: string | undefined;
  /** Signs `claims` (defaults: iss, aud, exp in 1 h, iat now) with a key of this server. */
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>;
  close(): Promise<void>;
}

export interface SignOptions {
  key?: TestKey;
  header?: Record<string, unknown>;
  omitKid?: boolean;
  /** Claims to delete from the defaults (e.g. "exp"). */
  omit?: string[];
  now?: number;
}

export async function createTestKey(
  alg: SigningAlg = "RS256",
  kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<TestKey> {
  const pair = await generateKeyPair(alg, {
    extractable: true,
    crv: alg === "EdDSA" ? "Ed25519" : undefined,
  });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey, publicJwk };
}

export async function startKeyServer(
  options: { audience?: string; algs?: SigningAlg[] } = {},
): Promise<KeyServer> {
  const audience = options.audience ?? "https://api.example.com";
  const hits = new Map<string, number>();
  let issuer = "";
  const state: KeyServer = {
    issuer: "",
    jwksUri: "",
    hits,
    get jwksFetches() {
      return hits.get("/jwks") ?? 0;
    },
    keys: [],
    mode: "up",
    cacheControl: undefined,
    async addKey(alg = "RS256", kid, extra = {}) {
      const key = await createTestKey(alg, kid);
      key.publicJwk = { ...key.publicJwk, ...extra };
      state.keys.push(key);
      return key;
    },
    removeKey(kid) {
      state.keys = state.keys.filter((k) => k.kid !== kid);
    },
    async sign(claims = {}, signOptions = {}) {
      const key = signOptions.key ?? state.keys[0];
      if (!key) throw new Error("no key");
      const now = Math.floor((signOptions.now ?? Date.now()) / 1000);
      const payload: JWTPayload = { iss: issuer, aud: audience, iat: now, exp: now + 3600, ...claims };
      for (const name of signOptions.omit ?? []) delete payload[name];
      const header = {
        alg: key.alg,
        ...(signOptions.omitKid ? {} : { kid: key.kid }),
        ...signOptions.header,
      };
      return new SignJWT(payload).setProtectedHeader(header as never).sign(key.privateKey);
    },
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (state.mode === "reset") {
      req.socket.destroy();
      return;
    }
    if (state.mode === "503") {
      res.writeHead(503).end("down");
      return;
    }
    if (path === "/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token` }));
    } else if (path === "/jwks") {
      res.writeHead(200, {
        "content-type": "application/json",
        ...(state.cacheControl ? { "cache-control": state.cacheControl } : {}),
      });
      res.end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  const { url, close } = await listen(server);
  issuer = url;
  state.issuer = url;
  state.jwksUri = `${url}/jwks`;
  state.close = close;
  for (const alg of options.algs ?? ["RS256"]) await state.addKey(alg);
  return state;
}

/** base64url of a string or bytes. */
export function b64url(input: string | Uint8Array): string {
  return Buffer.from(input).toString("base64url");
}

/** A compact JWS from raw parts, for tokens no honest signer would make. */
export function rawToken(header: unknown, payload: unknown, signature = "c2ln"): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

/** Signs any header and payload with an RS256 test key, bypassing every check a JOSE library makes. */
export async function signRaw(
  header: Record<string, unknown>,
  payload: unknown,
  key: TestKey,
): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}
