import {
  calculateJwkThumbprint,
  errors,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  jwtVerify,
} from "jose";
import { LRUCache } from "lru-cache";
import { InvalidDpopProofError, UseDpopNonceError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { normalizeHtu } from "./htu.js";
import { DPOP_ALGORITHMS, type DpopAlgorithm, publicMembers } from "./key.js";
import type { DpopNonceSource } from "./nonce.js";
import { accessTokenHash } from "./proof.js";
import { createMemoryReplayStore, type ReplayStore } from "./replay-store.js";

/** DPoP options of a verifier and of every adapter (RFC 9449 §4.3, §7). */
export interface DpopOptions {
  /**
   * `true`: only DPoP-bound tokens with a valid proof are accepted (plain Bearer tokens are refused).
   * Default `false`: Bearer tokens without `cnf.jkt` are accepted too; a DPoP-bound token always
   * needs its proof.
   */
  required?: boolean;
  /** Proof algorithms accepted (asymmetric only). Default ES256/384/512, PS256/384/512, RS256/384/512, Ed25519, EdDSA. */
  algorithms?: readonly DpopAlgorithm[];
  /** How old a proof's `iat` may be, in seconds. Default 60. A proof is remembered that long. */
  iatToleranceSeconds?: number;
  /** How far a proof's `iat` may be in the future (clock skew), in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /**
   * Where seen proofs are remembered (RFC 9449 §11.1). Default: a bounded memory store per verifier
   * ({@link createMemoryReplayStore}, 100 000 entries). Use `createRedisReplayStore` for several
   * processes. `null` turns replay detection off (explicitly).
   */
  replayStore?: ReplayStore | null;
  /** Server-provided nonces (RFC 9449 §9): every proof must carry an accepted nonce. Default none. */
  nonce?: DpopNonceSource;
}

/** The names of {@link DpopOptions}. */
export const DPOP_OPTION_NAMES: OptionNames<DpopOptions> = {
  required: true,
  algorithms: true,
  iatToleranceSeconds: true,
  clockToleranceSeconds: true,
  replayStore: true,
  nonce: true,
};

/** One request as the proof check sees it. */
export interface DpopRequest {
  /** The `DPoP` header values; more than one is refused (RFC 9449 §4.3 step 1). */
  proof: string | readonly string[] | undefined;
  /** HTTP method. */
  method: string;
  /** Full URL of the request as the client addressed it (scheme and host included). */
  url: string | URL;
  /** The access token of the request (checked against `ath`), if any. */
  accessToken?: string | undefined;
}

/** A proof that passed the checks. */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: what `cnf.jkt` must equal. */
  thumbprint: string;
  /** The proof's unique identifier (RFC 9449 §4.2), at most 256 characters. */
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  /** The proof's JWS `alg`, one of the accepted `algorithms`. */
  alg: string;
  /** The proof's public key. */
  jwk: JWK;
  /** The proof's `nonce` claim (RFC 9449 §8), when it has one. */
  nonce: string | undefined;
}

/** Checks DPoP proofs; made once per verifier. */
export interface DpopProofVerifier {
  /** Accepted proof `alg`s (the `algs` of the `WWW-Authenticate: DPoP` challenge). */
  readonly algorithms: readonly string[];
  /** Whether only DPoP-bound tokens are accepted (`dpop.required`). */
  readonly required: boolean;
  /** The server-provided nonce source (`dpop.nonce`), if any. */
  readonly nonce: DpopNonceSource | undefined;
  /**
   * Runs RFC 9449 §4.3 steps 1–11 and `ath`. With `thumbprint`, also checks the token's `cnf.jkt`
   * (the caller passes it after checking the token) and only then remembers the `jti`.
   * @throws InvalidDpopProofError, UseDpopNonceError, ReplayStoreFullError
   */
  verify(request: DpopRequest): Promise<DpopProof>;
  /** Records the proof as used (RFC 9449 §11.1): `ERR_DPOP_REPLAY` when it was seen before. */
  remember(proof: DpopProof): Promise<void>;
}

const MAX_PROOF_BYTES = 8 * 1024;
const MAX_JTI_LENGTH = 256;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

interface CachedKey {
  key: CryptoKey;
  thumbprint: string;
  jwk: JWK;
}

function fail(
  code: ConstructorParameters<typeof InvalidDpopProofError>[0],
  message: string,
  cause?: unknown,
) {
  return new InvalidDpopProofError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * Makes the DPoP proof check used by `createVerifier({ dpop })` and the adapters. Imported proof
 * keys are cached (bounded), so a client that sends many requests costs one key import.
 */
export function createDpopProofVerifier(
  options: DpopOptions = {},
  clock: { now(): number } = { now: () => Date.now() },
): DpopProofVerifier {
  checkOptionNames(options, [DPOP_OPTION_NAMES], "createDpopProofVerifier()");
  const algorithms = options.algorithms ?? DPOP_ALGORITHMS;
  for (const alg of algorithms) {
    if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`dpop.algorithms: ${String(alg)} is not an asymmetric JWS algorithm`);
    }
  }
  if (algorithms.length === 0) throw new TypeError("dpop.algorithms must not be empty");
  const iatTolerance = options.iatToleranceSeconds ?? 60;
  const skew = options.clockToleranceSeconds ?? 5;
  if (!(iatTolerance > 0)) throw new TypeError("dpop.iatToleranceSeconds must be a positive number");
  if (!(skew >= 0)) throw new TypeError("dpop.clockToleranceSeconds must be a number ≥ 0");
  const replayStore =
    options.replayStore === null ? undefined : (options.replayStore ?? createMemoryReplayStore({ clock }));
  if (replayStore && typeof replayStore.remember !== "function") {
    throw new TypeError("dpop.replayStore must have a remember(key, expiresAtMs) method");
  }
  const nonce = options.nonce;
  if (nonce && (typeof nonce.current !== "function" || typeof nonce.check !== "function")) {
    throw new TypeError("dpop.nonce must have current() and check(nonce) methods");
  }
  const keys = new LRUCache<string, Promise<CachedKey>>({ max: 1000 });
  /** `ath` of recent access tokens: a client sends the same token with many proofs. */
  const hashes = new LRUCache<string, string>({ max: 1000 });

  function keyFor(header: JWTHeaderParameters): Promise<CachedKey> {
    const jwk = header.jwk;
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      throw fail("ERR_DPOP_JWK", "the DPoP proof has no jwk header");
    }
    for (const member of PRIVATE_MEMBERS) {
      if (member in jwk) throw fail("ERR_DPOP_JWK", "the DPoP proof's jwk contains a private key");
    }
    if ((jwk.use !== undefined && jwk.use !== "sig") || (jwk.alg !== undefined && jwk.alg !== header.alg)) {
      throw fail("ERR_DPOP_JWK", "the DPoP proof's jwk does not fit its alg");
    }
    const pub = publicMembers(jwk);
    if (!pub) throw fail("ERR_DPOP_JWK", "the DPoP proof's jwk is not an asymmetric public key");
    const cacheKey = `${header.alg} ${JSON.stringify(pub)}`;
    let entry = keys.get(cacheKey);
    if (!entry) {
      entry = (async () => {
        let key: CryptoKey;
        try {
          key = (await importJWK(pub, header.alg)) as CryptoKey;
        } catch (cause) {
          throw fail("ERR_DPOP_JWK", "the DPoP proof's jwk does not fit its alg", cause);
        }
        return { key, thumbprint: await calculateJwkThumbprint(pub, "sha256"), jwk: pub };
      })();
      keys.set(cacheKey, entry);
      entry.catch(() => keys.delete(cacheKey));
    }
    return entry;
  }

  async function verify(request: DpopRequest): Promise<DpopProof> {
    const values = typeof request.proof === "string" ? [request.proof] : (request.proof ?? []);
    if (values.length === 0) throw fail("ERR_DPOP_MISSING", "the request has no DPoP proof");
    if (values.length > 1) throw fail("ERR_DPOP_MULTIPLE", "the request has more than one DPoP header");
    const proof = values[0]!.trim();
    if (proof.length > MAX_PROOF_BYTES || proof.split(".").length !== 3) {
      throw fail("ERR_DPOP_MALFORMED", "the DPoP proof is not a JWT");
    }
    let header: JWTHeaderParameters;
    let payload: Record<string, unknown>;
    let cached: CachedKey | undefined;
    try {
      const result = await jwtVerify(
        proof,
        async (h) => {
          cached = await keyFor(h as JWTHeaderParameters);
          return cached.key;
        },
        { algorithms: algorithms as string[], typ: "dpop+jwt", currentDate: new Date(clock.now()) },
      );
      header = result.protectedHeader;
      payload = result.payload as Record<string, unknown>;
    } catch (error) {
      if (error instanceof InvalidDpopProofError) throw error;
      if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
        throw fail("ERR_DPOP_ALG_NOT_ALLOWED", `DPoP proof alg must be one of ${algorithms.join(" ")}`);
      }
      if (error instanceof errors.JWSSignatureVerificationFailed) {
        throw fail("ERR_DPOP_SIGNATURE", "the DPoP proof signature does not verify");
      }
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === "typ") {
        throw fail("ERR_DPOP_TYP", 'the DPoP proof typ must be "dpop+jwt"');
      }
      throw fail("ERR_DPOP_MALFORMED", "the DPoP proof is not a valid JWT", error);
    }
    const { jti, htm, htu, iat, ath } = payload;
    if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      throw fail("ERR_DPOP_MALFORMED", "the DPoP proof needs a jti of 1 to 256 characters");
    }
    if (typeof htm !== "string" || typeof htu !== "string" || typeof iat !== "number") {
      throw fail("ERR_DPOP_MALFORMED", "the DPoP proof needs htm, htu and iat");
    }
    if (htm !== request.method.toUpperCase()) {
      throw fail("ERR_DPOP_HTM", "the DPoP proof's htm is not the request method");
    }
    const expected = normalizeHtu(request.url);
    if (expected === undefined || normalizeHtu(htu) !== expected) {
      throw fail("ERR_DPOP_HTU", "the DPoP proof's htu is not the request URL");
    }
    const proofNonce = payload.nonce;
    if (proofNonce !== undefined && typeof proofNonce !== "string") {
      throw fail("ERR_DPOP_MALFORMED", "the DPoP proof's nonce must be a string");
    }
    const now = clock.now() / 1000;
    if (iat > now + skew) throw fail("ERR_DPOP_IAT", "the DPoP proof's iat is in the future");
    if (iat < now - iatTolerance) throw fail("ERR_DPOP_IAT", "the DPoP proof is too old");
    if (request.accessToken !== undefined) {
      let expectedAth = hashes.get(request.accessToken);
      if (expectedAth === undefined) {
        expectedAth = await accessTokenHash(request.accessToken);
        hashes.set(request.accessToken, expectedAth);
      }
      if (typeof ath !== "string" || ath !== expectedAth) {
        throw fail("ERR_DPOP_ATH", "the DPoP proof's ath does not match the access token");
      }
    }
    if (nonce) {
      if (proofNonce === undefined || !(await nonce.check(proofNonce))) {
        throw new UseDpopNonceError(await nonce.current());
      }
    }
    return {
      thumbprint: cached!.thumbprint,
      jti,
      iat,
      alg: header.alg,
      jwk: cached!.jwk,
      nonce: proofNonce,
    };
  }

  async function remember(proof: DpopProof): Promise<void> {
    if (!replayStore) return;
    // A proof is accepted while now ≤ iat + iatTolerance: remember it that long (and a second more).
    const expiresAtMs = (proof.iat + iatTolerance + 1) * 1000;
    const fresh = await replayStore.remember(`${proof.thumbprint}.${proof.jti}`, Math.ceil(expiresAtMs));
    if (!fresh) throw fail("ERR_DPOP_REPLAY", "the DPoP proof has been used before");
  }

  return { algorithms, required: options.required ?? false, nonce, verify, remember };
}
