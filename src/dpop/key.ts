import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  importSPKI,
  type JWK,
} from "jose";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";

/** JWS algorithms a DPoP key can sign proofs with (RFC 9449 §4.2; Ed25519 by its RFC 9864 name). */
export type DpopAlgorithm =
  | "ES256"
  | "ES384"
  | "ES512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "RS256"
  | "RS384"
  | "RS512"
  | "Ed25519"
  | "EdDSA";

/** The asymmetric algorithms accepted for proofs by default. `none` and HMAC never are. */
export const DPOP_ALGORITHMS: readonly DpopAlgorithm[] = [
  "ES256",
  "ES384",
  "ES512",
  "PS256",
  "PS384",
  "PS512",
  "RS256",
  "RS384",
  "RS512",
  "Ed25519",
  "EdDSA",
];

/** A DPoP private key: a private JWK, a PKCS#8 PEM string, or a private `CryptoKey`. */
export type DpopPrivateKeyInput = JWK | string | CryptoKey;

/** A public key for a DPoP private key that cannot be exported: a public JWK, SPKI PEM or `CryptoKey`. */
export type DpopPublicKeyInput = JWK | string | CryptoKey;

/**
 * A key pair that signs DPoP proofs. The private key never leaves it; `publicJwk` is what proofs
 * carry in their `jwk` header and `thumbprint` (RFC 7638, SHA-256) is what bound tokens carry in
 * `cnf.jkt`.
 */
export interface DpopKey {
  /** The JWS `alg` proofs are signed with (`ES256`, `Ed25519`, …; RFC 9449 §4.2). */
  readonly alg: DpopAlgorithm;
  /** The signing key; a generated one is non-extractable. */
  readonly privateKey: CryptoKey;
  /** Public members only (RFC 9449 §4.2: `jwk` must not contain a private key). */
  readonly publicJwk: Readonly<JWK>;
  /** base64url SHA-256 JWK thumbprint (RFC 7638), the value of `cnf.jkt` (RFC 9449 §6.1). */
  readonly thumbprint: string;
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ["kty", "e", "n"],
  EC: ["kty", "crv", "x", "y"],
  OKP: ["kty", "crv", "x"],
};

/** The public members of a JWK (RFC 7638 §3.2 members), or `undefined` for symmetric/unknown types. */
export function publicMembers(jwk: JWK): JWK | undefined {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ""];
  if (!members) return undefined;
  const out: Record<string, unknown> = {};
  for (const name of members) {
    if (typeof (jwk as Record<string, unknown>)[name] !== "string") return undefined;
    out[name] = (jwk as Record<string, unknown>)[name];
  }
  return out as JWK;
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey !== "undefined" && value instanceof CryptoKey;
}

function checkAlg(alg: string, name: string): DpopAlgorithm {
  if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new TypeError(`${name} must be one of ${DPOP_ALGORITHMS.join(", ")}`);
  }
  return alg as DpopAlgorithm;
}

function algFromJwk(jwk: JWK): DpopAlgorithm | undefined {
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "EC") {
    return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as const)[jwk.crv as "P-256"];
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "Ed25519";
  return undefined;
}

function algFromCryptoKey(key: CryptoKey): DpopAlgorithm | undefined {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.replace("SHA-", "");
  if (algorithm.name === "RSASSA-PKCS1-v1_5") return `RS${bits}` as DpopAlgorithm;
  if (algorithm.name === "RSA-PSS") return `PS${bits}` as DpopAlgorithm;
  if (algorithm.name === "ECDSA") {
    return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as const)[
      algorithm.namedCurve as "P-256"
    ];
  }
  if (algorithm.name === "Ed25519") return "Ed25519";
  return undefined;
}

async function finish(alg: DpopAlgorithm, privateKey: CryptoKey, publicJwk: JWK): Promise<DpopKey> {
  const jwk = publicMembers(publicJwk);
  if (!jwk) throw new TypeError("the DPoP public key must be an RSA, EC or OKP key");
  const thumbprint = await calculateJwkThumbprint(jwk, "sha256");
  return Object.freeze({ alg, privateKey, publicJwk: Object.freeze(jwk), thumbprint });
}

/** The names of the options of {@link importDpopKey}. */
export const IMPORT_DPOP_KEY_OPTION_NAMES: OptionNames<NonNullable<Parameters<typeof importDpopKey>[1]>> = {
  alg: true,
  publicKey: true,
};

/**
 * Makes a new DPoP key pair with WebCrypto. The private key is not extractable.
 *
 * @param alg - Default `"ES256"` (RFC 9449 §4.2 examples; the most widely accepted proof algorithm).
 */
export async function generateDpopKey(alg: DpopAlgorithm = "ES256"): Promise<DpopKey> {
  checkAlg(alg, "dpop.alg");
  const pair = await generateKeyPair(alg, { extractable: false });
  return finish(alg, pair.privateKey, await exportJWK(pair.publicKey));
}

/**
 * Imports a DPoP private key given as a private JWK, a PKCS#8 PEM or a private `CryptoKey`.
 * A non-extractable `CryptoKey` needs its `publicKey` too.
 *
 * @param options.alg - The proof algorithm; default from the JWK's `alg`, the key type (RSA → RS256,
 *   P-256 → ES256, Ed25519 → Ed25519), and required for a PEM whose type is ambiguous (RSA: RS256).
 * @throws TypeError naming `dpop.privateKey` / `dpop.alg` when the key cannot be used.
 */
export async function importDpopKey(
  input: DpopPrivateKeyInput,
  options: { alg?: DpopAlgorithm; publicKey?: DpopPublicKeyInput } = {},
): Promise<DpopKey> {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [IMPORT_DPOP_KEY_OPTION_NAMES], "importDpopKey()");
  if (options.alg !== undefined) checkAlg(options.alg, "dpop.alg");
  if (typeof input === "string") {
    if (!input.includes("-----BEGIN PRIVATE KEY-----")) {
      throw new TypeError("dpop.privateKey must be a PKCS#8 PEM string, a private JWK or a CryptoKey");
    }
    const candidates = options.alg
      ? [options.alg]
      : (["ES256", "ES384", "ES512", "Ed25519", "RS256"] as const);
    for (const alg of candidates) {
      try {
        const key = await importPKCS8(input, alg, { extractable: true });
        return finish(alg, key, await exportJWK(key));
      } catch {
        // try the next key type
      }
    }
    throw new TypeError(
      options.alg
        ? `dpop.privateKey could not be imported for ${options.alg}`
        : "dpop.privateKey could not be imported",
    );
  }
  if (isCryptoKey(input)) {
    if (input.type !== "private") throw new TypeError("dpop.privateKey must be a private CryptoKey");
    const alg = options.alg ?? algFromCryptoKey(input);
    if (!alg) throw new TypeError("dpop.alg is required for this CryptoKey");
    let publicJwk: JWK;
    if (options.publicKey !== undefined) {
      publicJwk = await publicJwkOf(options.publicKey, alg);
    } else if (input.extractable) {
      publicJwk = await exportJWK(input);
    } else {
      throw new TypeError("dpop.publicKey is required with a non-extractable dpop.privateKey");
    }
    return finish(alg, input, publicJwk);
  }
  if (typeof input === "object" && input !== null && typeof (input as JWK).kty === "string") {
    const jwk = input as JWK;
    if (typeof jwk.d !== "string") {
      throw new TypeError("dpop.privateKey is a public JWK; the private key (with `d`) is needed");
    }
    const alg = options.alg ?? (jwk.alg as DpopAlgorithm | undefined) ?? algFromJwk(jwk);
    if (!alg) throw new TypeError("dpop.alg is required for this JWK");
    checkAlg(alg, "dpop.alg");
    let key: CryptoKey;
    try {
      key = (await importJWK({ ...jwk, alg: undefined, ext: false }, alg)) as CryptoKey;
    } catch (cause) {
      throw new TypeError(`dpop.privateKey could not be imported for ${alg}`, { cause });
    }
    return finish(alg, key, jwk);
  }
  throw new TypeError("dpop.privateKey must be a PKCS#8 PEM string, a private JWK or a CryptoKey");
}

async function publicJwkOf(input: DpopPublicKeyInput, alg: DpopAlgorithm): Promise<JWK> {
  if (typeof input === "string") return exportJWK(await importSPKI(input, alg, { extractable: true }));
  if (isCryptoKey(input)) return exportJWK(input);
  return input;
}
