import type { JWK } from "jose";
import { LRUCache } from "lru-cache";
import { platform } from "#platform";
import { UseDpopNonceError } from "../errors.js";
import { checkOptionNames, knownOptions, type OptionNames } from "../lib/option-names.js";
import type { Platform } from "../platform/types.js";
import { hasDotSegment, normalizeHtu } from "./htu.js";
import { DPOP_ALGORITHMS, type DpopAlgorithm } from "./key.js";
import type { DpopNonceSource } from "./nonce.js";
import {
  type CheckedHeader,
  checkEncoding,
  checkProofHeader,
  checkUnencodedPayload,
  dotSegments,
  invalidProof,
  type ProofParts,
  proofClaims,
} from "./proof-jws.js";
import { type ProofKey, type ProofKeyRef, ProofKeys } from "./proof-keys.js";
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

/** The names of {@link DpopRequest}. */
const DPOP_REQUEST_NAMES: OptionNames<DpopRequest> = {
  proof: true,
  method: true,
  url: true,
  accessToken: true,
};

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
   * A `url` string with a dot segment (`/admin/../orders`) is refused (`ERR_DPOP_HTU`): a router
   * sees it raw, the comparison with `htu` normalized.
   * @throws (rejects) InvalidDpopProofError, UseDpopNonceError, ReplayStoreFullError; TypeError for a
   *   member of `request` it does not know (`acessToken` would skip the `ath` check).
   */
  verify(request: DpopRequest): Promise<DpopProof>;
  /** Records the proof as used (RFC 9449 §11.1): `ERR_DPOP_REPLAY` when it was seen before. */
  remember(proof: DpopProof): Promise<void>;
}

const MAX_PROOF_BYTES = 8 * 1024;
const MAX_JTI_LENGTH = 256;

/**
 * The same-tick forms of `verify` and `remember` that the adapters call: a value when nothing had
 * to wait (node:crypto, a cached key, a replay store that answers synchronously), else a promise;
 * a refusal may be thrown. Symbols of the registry, so that both builds of the package agree.
 */
export const verifyProofNow: unique symbol = Symbol.for("m2m-kit.dpop.verifyNow");
/** See {@link verifyProofNow}. */
export const rememberProofNow: unique symbol = Symbol.for("m2m-kit.dpop.rememberNow");

/** A {@link DpopProofVerifier} with the same-tick forms (those made by this package have them). */
export interface DpopProofVerifierNow extends DpopProofVerifier {
  [verifyProofNow]?: (request: DpopRequest) => DpopProof | Promise<DpopProof>;
  [rememberProofNow]?: (proof: DpopProof) => void | Promise<void>;
}

/** `next(value)` now when `value` is there, after it when it is a promise (or another thenable). */
function then<T, U>(value: T | PromiseLike<T>, next: (value: T) => U | Promise<U>): U | Promise<U> {
  return typeof (value as PromiseLike<T> | undefined)?.then === "function"
    ? Promise.resolve(value).then(next)
    : next(value as T);
}

function promised<T>(run: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Makes the DPoP proof check used by `createVerifier({ dpop })` and the adapters. Imported proof
 * keys are cached (bounded), so a client that sends many requests costs one key import. On Node the
 * signature is checked with node:crypto, synchronously; elsewhere with WebCrypto through jose.
 */
export function createDpopProofVerifier(
  options: DpopOptions = {},
  clock: { now(): number } = { now: () => Date.now() },
): DpopProofVerifier {
  return createProofVerifier(options, clock, platform as Platform<unknown>);
}

/** {@link createDpopProofVerifier} on a given platform, and its key cache (for tests). */
export function createProofVerifier<Key>(
  options: DpopOptions,
  clock: { now(): number },
  runtime: Platform<Key>,
  keys: ProofKeys<Key> = new ProofKeys(runtime),
): DpopProofVerifierNow {
  checkOptionNames(options, [DPOP_OPTION_NAMES], "createDpopProofVerifier()");
  const algorithms = options.algorithms ?? DPOP_ALGORITHMS;
  for (const alg of algorithms) {
    if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`dpop.algorithms: ${String(alg)} is not an asymmetric JWS algorithm`);
    }
  }
  if (algorithms.length === 0) throw new TypeError("dpop.algorithms must not be empty");
  const allowed: ReadonlySet<string> = new Set(algorithms);
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
  const decode = (text: string) => runtime.decodeToString(text);
  // A client sends many proofs with one header (its key) and one access token, for a few URLs:
  // what depends only on them is worked out once. Every cache is bounded.
  const headers = new LRUCache<string, CheckedHeader & { key: ProofKeyRef }>({ max: 256 });
  /** `ath` of recent access tokens, found by the token's last characters and then compared whole. */
  const hashes = new LRUCache<string, { token: string; ath: string }>({ max: 1000 });
  const urls = new LRUCache<string, { normalized: string | undefined }>({ max: 256 });

  function normalized(url: string | URL): string | undefined {
    if (typeof url !== "string") return normalizeHtu(url);
    let entry = urls.get(url);
    if (entry === undefined) {
      entry = { normalized: normalizeHtu(url) };
      urls.set(url, entry);
    }
    return entry.normalized;
  }

  function athOf(token: string): string | Promise<string> {
    const tail = token.slice(-32);
    const known = hashes.get(tail);
    if (known !== undefined && known.token === token) return known.ath;
    return then(runtime.sha256(token), (ath) => {
      hashes.set(tail, { token, ath });
      return ath;
    });
  }

  // RFC 9449 §4.3, in the order jose's jwtVerify checks a JWT (steps 2–8), then steps 9–12 and `ath`.
  function verifyNow(request: DpopRequest): DpopProof | Promise<DpopProof> {
    const values = typeof request.proof === "string" ? [request.proof] : (request.proof ?? []);
    if (values.length === 0) throw invalidProof("ERR_DPOP_MISSING", "the request has no DPoP proof");
    if (values.length > 1)
      throw invalidProof("ERR_DPOP_MULTIPLE", "the request has more than one DPoP header");
    const proof = values[0]!.trim();
    // Three segments: two dots.
    const first = proof.indexOf(".");
    const second = first === -1 ? -1 : proof.indexOf(".", first + 1);
    if (proof.length > MAX_PROOF_BYTES || second === -1 || proof.indexOf(".", second + 1) !== -1) {
      throw invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof is not a JWT");
    }
    const segment = proof.slice(0, first);
    const payload = proof.slice(first + 1, second);
    let checked = headers.get(segment);
    if (checked === undefined) {
      const header = checkProofHeader(segment, allowed, decode);
      if (header.unencoded) checkUnencodedPayload(payload);
      checked = { ...header, key: keys.ref(header.header) };
      headers.set(segment, checked);
    } else if (checked.unencoded) {
      checkUnencodedPayload(payload);
    }
    const parts: ProofParts = {
      header: checked.header,
      unencoded: checked.unencoded,
      signingInput: proof.slice(0, second),
      payload,
      signature: proof.slice(second + 1),
    };
    return then(keys.get(checked.key), (key) => {
      checkEncoding(parts);
      const valid = runtime.verify(parts.header.alg, key.key, parts.signingInput, parts.signature);
      return then(valid, (ok) => checkClaims(request, parts, key, ok));
    });
  }

  function checkClaims(
    request: DpopRequest,
    parts: ProofParts,
    key: ProofKey<Key>,
    valid: boolean,
  ): DpopProof | Promise<DpopProof> {
    if (!valid) throw invalidProof("ERR_DPOP_SIGNATURE", "the DPoP proof signature does not verify");
    const now = clock.now() / 1000;
    const payload = proofClaims(parts, decode, Math.floor(now));
    const { jti, htm, htu, iat, ath } = payload;
    if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      throw invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof needs a jti of 1 to 256 characters");
    }
    if (typeof htm !== "string" || typeof htu !== "string" || typeof iat !== "number") {
      throw invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof needs htm, htu and iat");
    }
    if (htm !== request.method.toUpperCase()) {
      throw invalidProof("ERR_DPOP_HTM", "the DPoP proof's htm is not the request method");
    }
    // The router sees the raw target, the comparison its normalized form: a request for
    // `/admin/../orders` must not pass with a proof for `/orders`.
    if (typeof request.url === "string" && hasDotSegment(request.url)) throw dotSegments();
    const expected = normalized(request.url);
    if (expected === undefined || normalized(htu) !== expected) {
      throw invalidProof("ERR_DPOP_HTU", "the DPoP proof's htu is not the request URL");
    }
    const proofNonce = payload.nonce;
    if (proofNonce !== undefined && typeof proofNonce !== "string") {
      throw invalidProof("ERR_DPOP_MALFORMED", "the DPoP proof's nonce must be a string");
    }
    if (iat > now + skew) throw invalidProof("ERR_DPOP_IAT", "the DPoP proof's iat is in the future");
    if (iat < now - iatTolerance) throw invalidProof("ERR_DPOP_IAT", "the DPoP proof is too old");
    const result: DpopProof = {
      thumbprint: key.thumbprint,
      jti,
      iat,
      alg: parts.header.alg,
      jwk: key.jwk,
      nonce: proofNonce,
    };
    const token = request.accessToken;
    return then(token === undefined ? undefined : athOf(token), (expectedAth) => {
      if (expectedAth !== undefined) {
        if (typeof ath !== "string" || ath !== expectedAth) {
          throw invalidProof("ERR_DPOP_ATH", "the DPoP proof's ath does not match the access token");
        }
      }
      if (!nonce) return result;
      if (proofNonce === undefined) return then(nonce.current(), askForNonce);
      return then(nonce.check(proofNonce), (fresh) => (fresh ? result : then(nonce.current(), askForNonce)));
    });
  }

  function askForNonce(value: string): never {
    throw new UseDpopNonceError(value);
  }

  function rememberNow(proof: DpopProof): void | Promise<void> {
    if (!replayStore) return;
    // A proof is accepted while now ≤ iat + iatTolerance: remember it that long (and a second more).
    const expiresAtMs = (proof.iat + iatTolerance + 1) * 1000;
    const fresh = replayStore.remember(`${proof.thumbprint}.${proof.jti}`, Math.ceil(expiresAtMs));
    return then(fresh, (first) => {
      if (!first) throw invalidProof("ERR_DPOP_REPLAY", "the DPoP proof has been used before");
    });
  }

  return {
    algorithms,
    required: options.required ?? false,
    nonce,
    verify: (request) =>
      promised(() => {
        // A misspelt name (`acessToken`) must not skip its check (the `ath` of RFC 9449 §4.3 step 11).
        if (typeof request !== "object" || request === null) {
          throw new TypeError("verify() needs the request: { proof, method, url, accessToken }");
        }
        checkOptionNames(request, [DPOP_REQUEST_NAMES], "DpopProofVerifier.verify() (the request)");
        return verifyNow(knownOptions(request, [DPOP_REQUEST_NAMES]));
      }),
    remember: (proof) => promised(() => rememberNow(proof)),
    [verifyProofNow]: verifyNow,
    [rememberProofNow]: rememberNow,
  };
}
