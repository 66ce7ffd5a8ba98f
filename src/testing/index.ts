import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { type DpopKey, generateDpopKey } from "../dpop/key.js";
import { createDpopProof } from "../dpop/proof.js";
import { checkOptionNames, knownOptions, type NameList, type OptionNames } from "../lib/option-names.js";
import {
  GITHUB_ACTIONS_TOKEN_OPTION_NAMES,
  type GitHubActionsTokenOptions,
  gitHubActionsClaims,
  KUBERNETES_TOKEN_OPTION_NAMES,
  type KubernetesTokenOptions,
  kubernetesClaims,
} from "./platform-tokens.js";

export {
  createGitHubActionsTokenServer,
  type GitHubActionsTokenServer,
  type GitHubActionsTokenServerOptions,
} from "./github-actions.js";
export {
  createDpopProof,
  type DpopKey,
  type GitHubActionsTokenOptions,
  generateDpopKey,
  type KubernetesTokenOptions,
};

/** Options of {@link createTestIssuer}. */
export interface TestIssuerOptions {
  /** Signing algorithm. Default RS256. */
  algorithm?: "RS256" | "PS256" | "ES256" | "EdDSA";
  /** Default `aud` of minted tokens. */
  audience?: string | string[];
}

/** The names of {@link TestIssuerOptions}. */
const TEST_ISSUER_OPTION_NAMES: OptionNames<TestIssuerOptions> = { algorithm: true, audience: true };

/** Options of {@link TestIssuer.mint}. */
export interface MintOptions {
  /** Token lifetime. Default 300 s. Negative values mint expired tokens. */
  expiresInSeconds?: number;
  /** Extra or replaced protected-header parameters (`typ`, `kid`, …). */
  header?: Record<string, unknown>;
  /** Sign with a key that is not in the JWKS (a forged token). */
  forged?: boolean;
  /**
   * Bind the token to this DPoP key (`cnf.jkt` = its thumbprint, RFC 9449 §6.1); make one with
   * `generateDpopKey()` and proofs with `createDpopProof(key, { method, url, accessToken })`.
   */
  dpopKey?: DpopKey;
}

/** The names of {@link MintOptions}. */
const MINT_OPTION_NAMES: OptionNames<MintOptions> = {
  expiresInSeconds: true,
  header: true,
  forged: true,
  dpopKey: true,
};

/** Options of {@link TestIssuer.rotateKeys}. */
export interface RotateKeysOptions {
  /** Drop the keys used so far from the JWKS: tokens signed with them no longer verify. Default false. */
  dropOld?: boolean;
}

const ROTATE_KEYS_OPTION_NAMES: OptionNames<RotateKeysOptions> = { dropOld: true };

/** Options of {@link TestClient.dpopProof}. */
export interface TestDpopProofOptions {
  /** The server's `DPoP-Nonce` to put in the proof (RFC 9449 §8, §9). */
  nonce?: string;
}

const TEST_DPOP_PROOF_OPTION_NAMES: OptionNames<TestDpopProofOptions> = { nonce: true };

/** An issuer of test tokens: its URL, its JWKS and a minter (a {@link TestIssuer} or one of its tenants). */
export interface TestSigner {
  /** The issuer URL, also the `iss` of minted tokens; discovery is served under it. */
  issuer: string;
  /** The JWK Set URL the verifier fetches keys from. */
  jwksUri: string;
  /** Signs an access token; defaults: iss, aud, iat, exp, `typ: at+jwt`, a `jti`. */
  mint(claims?: JWTPayload, options?: MintOptions): Promise<string>;
  /**
   * Signs a token shaped as a Kubernetes projected service-account token: `sub`
   * `system:serviceaccount:<namespace>:<serviceAccount>`, the `kubernetes.io` claim (namespace, pod,
   * node, service account), `nbf`, no `typ`; `iss` is this issuer (a cluster's service-account issuer).
   *
   * @example
   * ```ts
   * const token = await issuer.mintKubernetesToken({ namespace: "orders", serviceAccount: "worker", audience: "api://AzureADTokenExchange" });
   * ```
   */
  mintKubernetesToken(options: KubernetesTokenOptions): Promise<string>;
  /**
   * Signs a token shaped as a GitHub Actions OIDC token: `sub` `repo:<owner>/<repo>:ref:<ref>` (or
   * `:environment:<name>`, `:pull_request`), `repository`, `ref`, `job_workflow_ref`, `run_id` and
   * GitHub's other claims, `typ: JWT`; `iss` is this issuer (standing in for
   * `https://token.actions.githubusercontent.com`). {@link createGitHubActionsTokenServer} serves them
   * as the runner's token endpoint does.
   */
  mintGitHubActionsToken(options?: GitHubActionsTokenOptions): Promise<string>;
  /** Adds a new signing key and signs with it from now on; the old key stays in the JWKS unless `dropOld`. */
  rotateKeys(options?: RotateKeysOptions): Promise<void>;
  /** Number of JWKS requests served. */
  readonly jwksRequests: number;
}

/** A tenant of a {@link TestIssuer}: an issuer of its own under the issuer's URL. */
export interface TestTenant extends TestSigner {
  /** The tenant id, the path segment after the issuer's URL. */
  id: string;
}

/** A local issuer for API tests: discovery and a JWKS on 127.0.0.1, and a token minter. */
export interface TestIssuer extends TestSigner {
  /** The issuer URL (`http://127.0.0.1:<port>`), also the `iss` of minted tokens; discovery is served under it. */
  issuer: string;
  /**
   * A tenant, as multi-tenant providers have them: its own signing key, discovery and JWKS under
   * `<issuer>/<id>` (the `iss` of its tokens; its JWKS at `<issuer>/<id>/jwks`), made on the first
   * call for `id`. A verifier takes them all with the template `` `${issuer.issuer}/{tenantid}` ``;
   * a tenant never made answers 404. `id` is 1 to 64 letters, digits and `-`.
   *
   * @example
   * ```ts
   * const contoso = await issuer.tenant("contoso");
   * const token = await contoso.mint({ tid: "contoso", scope: "read:data" });
   * ```
   */
  tenant(id: string): Promise<TestTenant>;
  /**
   * Requests received per path, answered or not (`/jwks`, `/contoso/jwks`,
   * `/contoso/.well-known/openid-configuration`, `/unknown/jwks`).
   */
  readonly requests: ReadonlyMap<string, number>;
  /** Stops the server; minted tokens can no longer be verified against it. */
  close(): Promise<void>;
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * Starts a local issuer for testing APIs protected by m2m-kit (or any JWT verifier): point the
 * verifier at `issuer`, mint tokens with any claims.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer({ audience: "https://api.example.com" });
 * const token = await issuer.mint({ scope: "read:data", client_id: "svc" });
 * // … call your API with `Authorization: Bearer ${token}` …
 * await issuer.close();
 * ```
 */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  checkHelperOptions(options, [TEST_ISSUER_OPTION_NAMES], "createTestIssuer()");
  const alg = options.algorithm ?? "RS256";
  const requests = new Map<string, number>();
  /** Signers by path prefix: "" for the issuer itself, "/<id>" for a tenant. */
  const signers = new Map<string, Signer>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const [, first = "", ...rest] = path.split("/");
    const tenant = signers.get(`/${first}`);
    const signer = tenant && rest.length > 0 ? tenant : signers.get("");
    const local = tenant && rest.length > 0 ? `/${rest.join("/")}` : path;
    if (
      signer &&
      (local === "/.well-known/openid-configuration" || local === "/.well-known/oauth-authorization-server")
    ) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: signer.issuer, jwks_uri: signer.jwksUri }));
    } else if (signer && local === "/jwks") {
      signer.jwksServed++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: signer.keys.map((k) => k.publicJwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = await newSigner(issuer, alg, options.audience);
  signers.set("", root);
  const tenants = new Map<string, Promise<TestTenant>>();

  // Object.assign keeps the target's jwksRequests getter (a spread would copy its value once).
  return Object.assign(root.api(), {
    async tenant(id: string) {
      if (typeof id !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(id)) {
        throw new TypeError("tenant id must be 1 to 64 letters, digits and -");
      }
      let made = tenants.get(id);
      if (!made) {
        made = newSigner(`${issuer}/${id}`, alg, options.audience).then((signer) => {
          signers.set(`/${id}`, signer);
          return Object.assign(signer.api(), { id });
        });
        tenants.set(id, made);
      }
      return made;
    },
    requests: requests as ReadonlyMap<string, number>,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** The keys and minter of one issuer (the test issuer itself, or one of its tenants). */
interface Signer {
  issuer: string;
  jwksUri: string;
  keys: Key[];
  jwksServed: number;
  api(): TestSigner;
}

async function newSigner(
  issuer: string,
  alg: NonNullable<TestIssuerOptions["algorithm"]>,
  audience: string | string[] | undefined,
): Promise<Signer> {
  const newKey = async (): Promise<Key> => {
    const pair = await generateKeyPair(alg, {
      extractable: true,
      crv: alg === "EdDSA" ? "Ed25519" : undefined,
    });
    const kid = `test-${crypto.randomUUID().slice(0, 8)}`;
    return {
      kid,
      privateKey: pair.privateKey,
      publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" },
    };
  };
  const stranger = await newKey();
  const sign = (payload: JWTPayload, header: Record<string, unknown>, forged = false) => {
    const current = signer.keys.at(-1) as Key;
    const key = forged ? { ...stranger, kid: current.kid } : current;
    return new SignJWT(payload)
      .setProtectedHeader({ alg, kid: key.kid, ...header } as never)
      .sign(key.privateKey);
  };
  /** A platform token's registered claims: this issuer, issued now, valid from now. */
  const platformPayload = (claims: JWTPayload, expiresInSeconds: number): JWTPayload => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: issuer,
      iat: now,
      nbf: now,
      exp: now + expiresInSeconds,
      jti: crypto.randomUUID(),
      ...claims,
    };
  };
  const signer: Signer = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    keys: [await newKey()],
    jwksServed: 0,
    api: () => ({
      issuer,
      jwksUri: signer.jwksUri,
      get jwksRequests() {
        return signer.jwksServed;
      },
      async mint(claims = {}, mintOptions = {}) {
        checkHelperOptions(mintOptions, [MINT_OPTION_NAMES], "mint()");
        const now = Math.floor(Date.now() / 1000);
        const payload: JWTPayload = {
          iss: issuer,
          ...(audience !== undefined ? { aud: audience } : {}),
          iat: now,
          exp: now + (mintOptions.expiresInSeconds ?? 300),
          jti: crypto.randomUUID(),
          ...(mintOptions.dpopKey ? { cnf: { jkt: mintOptions.dpopKey.thumbprint } } : {}),
          ...claims,
        };
        return sign(payload, { typ: "at+jwt", ...mintOptions.header }, mintOptions.forged);
      },
      async mintKubernetesToken(tokenOptions) {
        checkHelperOptions(tokenOptions, [KUBERNETES_TOKEN_OPTION_NAMES], "mintKubernetesToken()");
        return sign(
          platformPayload(kubernetesClaims(tokenOptions), tokenOptions.expiresInSeconds ?? 3600),
          {},
          tokenOptions.forged,
        );
      },
      async mintGitHubActionsToken(tokenOptions = {}) {
        checkHelperOptions(tokenOptions, [GITHUB_ACTIONS_TOKEN_OPTION_NAMES], "mintGitHubActionsToken()");
        return sign(
          platformPayload(gitHubActionsClaims(tokenOptions), tokenOptions.expiresInSeconds ?? 300),
          { typ: "JWT" },
          tokenOptions.forged,
        );
      },
      async rotateKeys(rotateOptions = {}) {
        checkHelperOptions(rotateOptions, [ROTATE_KEYS_OPTION_NAMES], "rotateKeys()");
        const next = await newKey();
        signer.keys = rotateOptions.dropOld ? [next] : [...signer.keys, next];
      },
    }),
  };
  return signer;
}

/** A client for API tests that sends a token minted by a {@link TestIssuer}, as an M2M client would. */
export interface TestClient {
  /** The token it sends (minted once, reused like a real client's cached token). */
  token(): Promise<string>;
  /**
   * `fetch` with `Authorization: Bearer <token>`; with `dpop`, `Authorization: DPoP <token>` and a
   * fresh `DPoP` proof for the request's method and URL.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** A proof for your own HTTP client (with `dpop`): `DPoP: <proof>` next to `Authorization: DPoP <token>`. */
  dpopProof(method: string, url: string | URL, options?: TestDpopProofOptions): Promise<string>;
  /** The DPoP key (with `dpop`), e.g. to make proofs that should fail (`createDpopProof`). */
  dpopKey(): Promise<DpopKey | undefined>;
}

/** Options of {@link createTestClient}. */
export interface TestClientOptions extends MintOptions {
  /**
   * Sender-constrained tokens (RFC 9449): `true` makes an ES256 key, or pass your own; the token is
   * bound to it and every `fetch` carries a new proof.
   */
  dpop?: boolean | DpopKey;
}

/** The names of {@link TestClientOptions} besides {@link MintOptions}'. */
const TEST_CLIENT_OPTION_NAMES: OptionNames<TestClientOptions, MintOptions> = { dpop: true };

/** An options object of a test helper: an object whose names are all known. */
function checkHelperOptions(options: unknown, lists: readonly NameList[], where: string): void {
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${where} options must be an object`);
  checkOptionNames(options, lists, where);
}

/**
 * A client whose token carries `claims` (e.g. `client_id` and `scope`), for calling the API under test.
 *
 * @example
 * ```ts
 * const reader = createTestClient(issuer, { client_id: "svc", scope: "read:data" });
 * expect((await reader.fetch(`${url}/data`)).status).toBe(200);
 * const bound = createTestClient(issuer, { scope: "read:data" }, { dpop: true }); // DPoP-bound token + proofs
 * ```
 */
export function createTestClient(
  issuer: TestSigner,
  claims: JWTPayload = {},
  options: TestClientOptions = {},
): TestClient {
  const lists = [MINT_OPTION_NAMES, TEST_CLIENT_OPTION_NAMES];
  checkHelperOptions(options, lists, "createTestClient()");
  const { dpop, ...mintOptions } = knownOptions(options, lists);
  let key: Promise<DpopKey> | undefined;
  const dpopKey = async () => {
    if (!dpop) return undefined;
    key ??= dpop === true ? generateDpopKey("ES256") : Promise.resolve(dpop);
    return key;
  };
  let minted: Promise<string> | undefined;
  const token = () => {
    minted ??= dpopKey().then((bound) => issuer.mint(claims, { ...mintOptions, dpopKey: bound }));
    return minted;
  };
  const dpopProof = async (method: string, url: string | URL, proofOptions: TestDpopProofOptions = {}) => {
    checkHelperOptions(proofOptions, [TEST_DPOP_PROOF_OPTION_NAMES], "dpopProof()");
    const bound = await dpopKey();
    if (!bound) throw new TypeError("dpopProof needs a client made with { dpop }");
    return createDpopProof(bound, { method, url, accessToken: await token(), nonce: proofOptions.nonce });
  };
  return {
    token,
    dpopProof,
    dpopKey,
    async fetch(input, init = {}) {
      const headers = new Headers(init.headers);
      if (dpop) {
        const method = init.method ?? (input instanceof Request ? input.method : "GET");
        const url = input instanceof Request ? input.url : input;
        headers.set("authorization", `DPoP ${await token()}`);
        headers.set("dpop", await dpopProof(method, url));
      } else {
        headers.set("authorization", `Bearer ${await token()}`);
      }
      return fetch(input, { ...init, headers });
    },
  };
}
