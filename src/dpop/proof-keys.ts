import type { JWK } from "jose";
import { LRUCache } from "lru-cache";
import type { Platform } from "../platform/types.js";
import { MIN_RSA_MODULUS_BITS } from "../verify/algorithms.js";
import { publicMembers } from "./key.js";
import { invalidProof, type ProofHeader } from "./proof-jws.js";

/** How many proof keys one verifier keeps imported (least recently used leave first). */
export const PROOF_KEY_CACHE_MAX = 1000;

/** A proof's public key, imported for its `alg`, with its RFC 7638 thumbprint. */
export interface ProofKey<Key> {
  key: Key;
  /** base64url SHA-256 thumbprint (RFC 7638): what `cnf.jkt` must equal. */
  thumbprint: string;
  /** The public members of the proof's `jwk`. */
  jwk: JWK;
}

/** A proof key as its header names it, before the cache is asked. */
export interface ProofKeyRef {
  /** The cache entry: `alg` and the thumbprint input. */
  id: string;
  /** RFC 7638 thumbprint input: the canonical JSON of the key's required members. */
  input: string;
  alg: string;
  /** The public members of the proof's `jwk`. */
  jwk: JWK;
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const BASE64URL_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * RFC 7638 §3.2: the members that make the thumbprint, in lexicographic order, as JSON. The
 * thumbprint is the SHA-256 of exactly this text, so it names a key as the thumbprint does.
 */
function thumbprintInput(jwk: JWK): string {
  return jwk.kty === "RSA"
    ? JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })
    : jwk.kty === "EC"
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
}

/** Bits of an RSA modulus given as base64url (leading zero octets and bits do not count). */
function modulusBits(n: string): number {
  let zeros = 0;
  for (let i = 0; i < n.length; i++) {
    const digit = BASE64URL_DIGITS.indexOf(n.charAt(i));
    if (digit !== 0) {
      if (digit > 0) zeros += Math.clz32(digit) - 26;
      break;
    }
    zeros += 6;
  }
  return Math.max(0, Math.floor((n.length * 6) / 8) * 8 - zeros);
}

/**
 * The imported keys of DPoP proofs (RFC 9449 §4.3 step 7), bounded: a client sends many proofs
 * with one key, which is imported once. An entry is found by the key's thumbprint input and the
 * proof's `alg`, never by `kid`: a proof naming another key under a known `kid` is checked against
 * its own key.
 */
export class ProofKeys<Key> {
  readonly #runtime: Platform<Key>;
  readonly #cache: LRUCache<string, ProofKey<Key> | Promise<ProofKey<Key>>>;

  constructor(runtime: Platform<Key>, max = PROOF_KEY_CACHE_MAX) {
    this.#runtime = runtime;
    this.#cache = new LRUCache({ max });
  }

  /** Keys held now. */
  get size(): number {
    return this.#cache.size;
  }

  /**
   * Where the key of a proof's `jwk` header is found: present, public members only, fit for `alg`
   * (`use` and `alg` when given).
   * @throws InvalidDpopProofError `ERR_DPOP_JWK`
   */
  ref(header: ProofHeader): ProofKeyRef {
    const jwk = header.jwk as JWK | undefined;
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      throw invalidProof("ERR_DPOP_JWK", "the DPoP proof has no jwk header");
    }
    for (const member of PRIVATE_MEMBERS) {
      if (member in jwk) throw invalidProof("ERR_DPOP_JWK", "the DPoP proof's jwk contains a private key");
    }
    if ((jwk.use !== undefined && jwk.use !== "sig") || (jwk.alg !== undefined && jwk.alg !== header.alg)) {
      throw invalidProof("ERR_DPOP_JWK", "the DPoP proof's jwk does not fit its alg");
    }
    const pub = publicMembers(jwk);
    if (!pub) throw invalidProof("ERR_DPOP_JWK", "the DPoP proof's jwk is not an asymmetric public key");
    const input = thumbprintInput(pub);
    return { id: `${header.alg} ${input}`, input, alg: header.alg, jwk: pub };
  }

  /**
   * The imported key: from the cache, else imported (synchronously on node:crypto). Concurrent
   * proofs with a new key share one import; a failed import is not kept.
   * @throws InvalidDpopProofError `ERR_DPOP_JWK`; `ERR_DPOP_MALFORMED` for an RSA key under 2048 bits
   */
  get(ref: ProofKeyRef): ProofKey<Key> | Promise<ProofKey<Key>> {
    return this.#cache.get(ref.id) ?? this.#import(ref);
  }

  #import({ id, input, alg, jwk }: ProofKeyRef): ProofKey<Key> | Promise<ProofKey<Key>> {
    // Refused as jose refuses it (after the import, before the signature), whichever platform.
    if (jwk.kty === "RSA" && /^[RP]S/.test(alg) && modulusBits(jwk.n as string) < MIN_RSA_MODULUS_BITS) {
      throw invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof is not a valid JWT");
    }
    const refused = (cause: unknown) =>
      invalidProof("ERR_DPOP_JWK", "the DPoP proof's jwk does not fit its alg", cause);
    let imported: Key | Promise<Key>;
    try {
      imported = this.#runtime.importKey(jwk, alg);
    } catch (cause) {
      throw refused(cause);
    }
    const thumbprint = this.#runtime.sha256(input);
    if (!(imported instanceof Promise) && typeof thumbprint === "string") {
      const entry = { key: imported, thumbprint, jwk };
      this.#cache.set(id, entry);
      return entry;
    }
    const pending: Promise<ProofKey<Key>> = Promise.all([imported, thumbprint]).then(
      ([key, hash]) => {
        const entry = { key, thumbprint: hash, jwk };
        if (this.#cache.peek(id) === pending) this.#cache.set(id, entry);
        return entry;
      },
      (cause: unknown) => {
        if (this.#cache.peek(id) === pending) this.#cache.delete(id);
        throw refused(cause);
      },
    );
    this.#cache.set(id, pending);
    return pending;
  }
}
