import { LRUCache } from "lru-cache";
import {
  type DpopAlgorithm,
  type DpopKey,
  type DpopPrivateKeyInput,
  type DpopPublicKeyInput,
  generateDpopKey,
  importDpopKey,
} from "../dpop/key.js";
import { createDpopProof } from "../dpop/proof.js";
import { parseJsonObject } from "../lib/http.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";

/**
 * `dpop` option of the client (RFC 9449): `true` makes a non-extractable ES256 key for this client;
 * an object brings a key of your own (shared by the processes that should share DPoP-bound tokens).
 */
export type ClientDpopOption =
  | boolean
  | {
      /** Private JWK, PKCS#8 PEM or private `CryptoKey`. Default: a key made for this client. */
      privateKey?: DpopPrivateKeyInput;
      /** The public key, needed only with a non-extractable `CryptoKey`. */
      publicKey?: DpopPublicKeyInput;
      /** Proof algorithm: ES256 (default for a generated key), ES384, Ed25519, RS256, PS256, … */
      alg?: DpopAlgorithm;
      /**
       * Accept a `token_type: Bearer` answer to a DPoP token request (a server that ignores DPoP).
       * Default false: such an answer is a `TokenRequestError`.
       */
      allowBearer?: boolean;
    };

/** The names of the `dpop` option's object form. */
export const CLIENT_DPOP_OPTION_NAMES: OptionNames<Exclude<ClientDpopOption, boolean>> = {
  privateKey: true,
  publicKey: true,
  alg: true,
  allowBearer: true,
};

const NONCE_ORIGINS = 100;

/** The client's DPoP key and the last nonce each origin handed out (RFC 9449 §8, §9). */
export class DpopSession {
  readonly allowBearer: boolean;
  readonly #nonces = new LRUCache<string, string>({ max: NONCE_ORIGINS });
  readonly #key: () => Promise<DpopKey>;
  #loading: Promise<DpopKey> | undefined;
  /** The key's thumbprint once it is known (sync access for the cache key on a hit). */
  thumbprint: string | undefined;

  constructor(option: Exclude<ClientDpopOption, false>) {
    const config = option === true ? {} : option;
    this.allowBearer = config.allowBearer === true;
    this.#key = () =>
      config.privateKey === undefined
        ? generateDpopKey(config.alg ?? "ES256")
        : importDpopKey(config.privateKey, { alg: config.alg, publicKey: config.publicKey });
  }

  key(): Promise<DpopKey> {
    if (!this.#loading) {
      this.#loading = this.#key().then((key) => {
        this.thumbprint = key.thumbprint;
        return key;
      });
      this.#loading.catch(() => {
        this.#loading = undefined;
      });
    }
    return this.#loading;
  }

  /** A fresh proof for one request, with the origin's last nonce unless one is given. */
  async proof(method: string, url: string | URL, accessToken?: string, nonce?: string): Promise<string> {
    const origin = new URL(url).origin;
    if (nonce !== undefined) this.#nonces.set(origin, nonce);
    return createDpopProof(await this.key(), {
      method,
      url,
      accessToken,
      nonce: nonce ?? this.#nonces.get(origin),
    });
  }

  /** Keeps the `DPoP-Nonce` a server sent (on any answer, RFC 9449 §8.2 and §9). */
  noteNonce(url: string | URL, response: Response): string | undefined {
    const nonce = response.headers.get("dpop-nonce");
    if (nonce && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(nonce)) this.#nonces.set(new URL(url).origin, nonce);
    return nonce ?? undefined;
  }
}

/** A token endpoint's `use_dpop_nonce` error (RFC 9449 §8): 400 with the error and a `DPoP-Nonce`. */
export function isTokenNonceChallenge(response: Response, text: string): boolean {
  if (response.status !== 400 || !response.headers.has("dpop-nonce")) return false;
  return parseJsonObject(text)?.error === "use_dpop_nonce";
}

/** A resource server's nonce challenge (RFC 9449 §9): 401, `WWW-Authenticate: DPoP error="use_dpop_nonce"`. */
export function isResourceNonceChallenge(response: Response): boolean {
  if (response.status !== 401 || !response.headers.has("dpop-nonce")) return false;
  const challenge = response.headers.get("www-authenticate") ?? "";
  return /\bDPoP\b[\s\S]*\berror\s*=\s*"?use_dpop_nonce\b/i.test(challenge);
}

/** Checks the `dpop` option's shape at construction; the key itself is made or imported lazily. */
export function checkDpopOption(value: unknown, where: string): void {
  if (value === undefined || typeof value === "boolean") return;
  if (typeof value !== "object" || value === null) {
    throw new TypeError("dpop must be true, false or { privateKey, alg }");
  }
  checkOptionNames(value, [CLIENT_DPOP_OPTION_NAMES], where, "dpop.");
  const { privateKey, alg, allowBearer } = value as Record<string, unknown>;
  if (alg !== undefined && typeof alg !== "string") throw new TypeError("dpop.alg must be a string");
  if (allowBearer !== undefined && typeof allowBearer !== "boolean") {
    throw new TypeError("dpop.allowBearer must be a boolean");
  }
  if (privateKey !== undefined && typeof privateKey !== "string" && typeof privateKey !== "object") {
    throw new TypeError("dpop.privateKey must be a PKCS#8 PEM string, a private JWK or a CryptoKey");
  }
  if (typeof privateKey === "object" && privateKey !== null && "kty" in privateKey && !("d" in privateKey)) {
    throw new TypeError("dpop.privateKey is a public JWK; the private key (with `d`) is needed");
  }
}
