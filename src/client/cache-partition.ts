/**
 * The part of a cache key that says which token the server would issue and who may use it, beside
 * (token endpoint, client id, audience, scope set): the grant, `extraParams`, how the target is sent,
 * the client authentication method, a fingerprint of the credential and the DPoP key's thumbprint.
 * Two clients that differ in any of them never share a token, in memory or in a shared store.
 */
import { base64url, calculateJwkThumbprint, exportJWK, importPKCS8, type JWK } from "jose";
import { requestScopedIo } from "../lib/runtime.js";
import type { AuthMethod, PrivateKeyInput } from "../oauth/client-auth.js";
import { isCryptoKey, isMutualTlsMethod } from "../oauth/client-auth.js";
import type { MaybePromise, TokenStore } from "./store.js";

/**
 * PBKDF2-SHA-256 iterations for a secret's fingerprint when the store has no key of its own to hash
 * it with (OWASP's floor for PBKDF2-SHA-256 is higher for passwords; a client secret is random).
 */
export const SECRET_FINGERPRINT_ITERATIONS = 100_000;

const encoder = /* @__PURE__ */ new TextEncoder();

/** The credential a client authenticates with, as far as its fingerprint needs it. */
export interface CredentialInput {
  secret: string | undefined;
  privateKey: PrivateKeyInput | undefined;
  privateKeyAlg: string | undefined;
  /**
   * The transport's client certificate thumbprint (mutual TLS), when the transport tells it: part of
   * every key (certificate-bound tokens), and the credential of the mutual-TLS methods.
   */
  clientCertificate: string | undefined;
  /**
   * A client assertion from a source (`clientAssertion`): the identity of its current assertion (a
   * hash of `iss`, `sub` and `aud`, read without verifying).
   */
  assertion?: CredentialFingerprint | undefined;
}

/**
 * A credential's fingerprint: a value that tells two credentials apart and cannot be turned back into
 * the credential. Asked for on every cache-key resolution; sync once known. (A credential that
 * changes per request, such as a platform assertion, answers from the current one.)
 */
export interface CredentialFingerprint {
  current(): MaybePromise<string>;
}

/**
 * A fingerprint computed once, then answered synchronously. Where one request must not wait on
 * another's work (Workers), each caller computes until one has finished.
 */
function once(compute: () => Promise<string>): CredentialFingerprint {
  let value: string | undefined;
  let pending: Promise<string> | undefined;
  return {
    current() {
      if (value !== undefined) return value;
      if (requestScopedIo) {
        return compute().then((v) => {
          value ??= v;
          return value;
        });
      }
      pending ??= compute().then(
        (v) => {
          value = v;
          return v;
        },
        (error: unknown) => {
          pending = undefined; // not cached: the next call tries again
          throw error;
        },
      );
      return pending;
    },
  };
}

async function sha256(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

/**
 * A client secret's fingerprint: the store's keyed hash (HMAC under its `encryptionKey`, or a key of
 * its own for the memory store) when it has one, else PBKDF2 with {@link SECRET_FINGERPRINT_ITERATIONS}
 * iterations salted with (issuer or token endpoint, client id). The store is given a SHA-256 digest
 * of the secret, never the secret.
 */
export function secretFingerprint(secret: string, salt: string, store: TokenStore): CredentialFingerprint {
  return once(async () => {
    // Read inside the try: a store whose member (a getter) throws is a store that cannot hash.
    try {
      const hash = store.credentialFingerprint;
      if (typeof hash === "function") {
        const keyed = await hash.call(store, await sha256(`m2m-kit client secret\n${salt}\n${secret}`));
        if (typeof keyed === "string" && keyed !== "") return `hmac:${keyed}`;
      }
    } catch {
      // A store that cannot hash: the fingerprint needs no store.
    }
    const material = await crypto.subtle.importKey("raw", encoder.encode(secret), "PBKDF2", false, [
      "deriveBits",
    ]);
    const bits = await crypto.subtle.deriveBits(
      {
        name: "PBKDF2",
        hash: "SHA-256",
        salt: encoder.encode(`m2m-kit client secret\n${salt}`),
        iterations: SECRET_FINGERPRINT_ITERATIONS,
      },
      material,
      256,
    );
    return `pbkdf2:${base64url.encode(new Uint8Array(bits))}`;
  });
}

const PEM_ALGS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"];

/**
 * A private JWK's name: its RFC 7638 thumbprint (the public key) and a SHA-256 of its private part,
 * so that a key whose public half is right and private half is not (it cannot sign for the client)
 * is another credential.
 */
async function jwkName(jwk: JWK): Promise<string> {
  const thumbprint = await calculateJwkThumbprint(jwk);
  return typeof jwk.d === "string"
    ? `jwk:${thumbprint}:${await sha256(`m2m-kit private key\n${jwk.d}`)}`
    : `jwk:${thumbprint}`;
}
/** Keys of this process that cannot be exported or fingerprinted otherwise. */
const localKeyIds = new WeakMap<CryptoKey, string>();

/**
 * A private key's fingerprint: its RFC 7638 JWK thumbprint with a SHA-256 of its private part. A
 * non-extractable `CryptoKey` whose signatures are deterministic (RSASSA-PKCS1-v1_5, Ed25519) is named
 * by the hash of its signature over a fixed label; any other non-extractable key by an id of this
 * process (its tokens are then shared within the process only).
 */
export function privateKeyFingerprint(
  input: PrivateKeyInput,
  alg: string | undefined,
): CredentialFingerprint {
  return once(async () => {
    if (typeof input === "string") {
      for (const candidate of alg ? [alg] : PEM_ALGS) {
        try {
          const key = await importPKCS8(input, candidate, { extractable: true });
          return await jwkName(await exportJWK(key));
        } catch {
          // another algorithm family
        }
      }
      // The token request reports why the key cannot be used; its tokens are this process's own.
      return `local:${base64url.encode(crypto.getRandomValues(new Uint8Array(16)))}`;
    }
    if (isCryptoKey(input)) {
      if (input.extractable) return jwkName(await exportJWK(input));
      const name = input.algorithm.name;
      if (name === "RSASSA-PKCS1-v1_5" || name === "Ed25519") {
        const signature = await crypto.subtle.sign(name, input, encoder.encode("m2m-kit key fingerprint"));
        return `sig:${base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", signature)))}`;
      }
      let id = localKeyIds.get(input);
      if (id === undefined) {
        id = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
        localKeyIds.set(input, id);
      }
      return `local:${id}`;
    }
    try {
      return await jwkName(input as JWK);
    } catch {
      return `local:${base64url.encode(crypto.getRandomValues(new Uint8Array(16)))}`;
    }
  });
}

/** How the token request names its target (part of what the server issues). */
export interface TargetStyleKey {
  audienceParam: string;
  scopeTarget: string | undefined;
}

/**
 * Builds the partition string of cache keys for one client. Memoized per (auth method, credential
 * fingerprint, DPoP thumbprint): a cache hit costs a map lookup once the fingerprint is known.
 */
export class CachePartition {
  readonly #memo = new Map<string, string>();
  readonly #fingerprints = new Map<string, CredentialFingerprint>();
  readonly #fixed: string;

  constructor(
    private readonly config: {
      /** The grant: its `grant_type` and what else names it (a subject token's type). */
      grant: string;
      /**
       * The grant's own credential (the JWT bearer grant's assertion, a token-exchange grant's subject
       * token): the identity of the current one, so that two subjects never share a token.
       */
      grantSubject?: CredentialFingerprint | undefined;
      extraParams: Readonly<Record<string, string>>;
      style: TargetStyleKey;
      credential: CredentialInput;
      /** Stable salt of the secret's PBKDF2 fingerprint: (issuer or token endpoint, client id). */
      salt: string;
      store: TokenStore;
    },
  ) {
    const params = Object.entries(config.extraParams).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.#fixed = JSON.stringify([
      config.grant,
      params,
      config.style.audienceParam,
      config.style.scopeTarget ?? null,
      // RFC 8705 §3: a transport that presents a certificate gets tokens bound to it, whatever the
      // authentication method; another certificate cannot use them.
      config.credential.clientCertificate ?? null,
    ]);
  }

  /**
   * The partition for a request authenticated with `method`, bound to the DPoP key `binding` (its
   * thumbprint) if any. Synchronous once the credential's fingerprint is known.
   */
  resolve(method: AuthMethod, binding: string | undefined): MaybePromise<string> {
    const credential = this.#fingerprint(method).current();
    const subject = this.config.grantSubject?.current() ?? "";
    if (typeof credential === "string" && typeof subject === "string") {
      return this.#compose(method, credential, subject, binding);
    }
    return Promise.all([credential, subject]).then(([c, s]) => this.#compose(method, c, s, binding));
  }

  #compose(method: AuthMethod, credential: string, subject: string, binding: string | undefined): string {
    const memoKey = `${method}\n${credential}\n${subject}\n${binding ?? ""}`;
    let partition = this.#memo.get(memoKey);
    if (partition === undefined) {
      partition = `${this.#fixed}${JSON.stringify([method, credential, subject, binding ?? null])}`;
      if (this.#memo.size >= 16) this.#memo.clear();
      this.#memo.set(memoKey, partition);
    }
    return partition;
  }

  #fingerprint(method: AuthMethod): CredentialFingerprint {
    const kind = isMutualTlsMethod(method) ? "tls" : method === "private_key_jwt" ? "key" : "secret";
    let fingerprint = this.#fingerprints.get(kind);
    if (!fingerprint) {
      const { credential, salt, store } = this.config;
      if (kind === "key" && credential.assertion !== undefined) {
        fingerprint = credential.assertion;
      } else if (kind === "key" && credential.privateKey !== undefined) {
        fingerprint = privateKeyFingerprint(credential.privateKey, credential.privateKeyAlg);
      } else if (kind === "secret" && credential.secret !== undefined) {
        fingerprint = secretFingerprint(credential.secret, salt, store);
      } else if (kind === "tls") {
        // A transport m2m-kit cannot see into presents a certificate it cannot name: the tokens are
        // this client's own, never another certificate's.
        const certificate = credential.clientCertificate;
        const value =
          certificate === undefined
            ? `local:${base64url.encode(crypto.getRandomValues(new Uint8Array(16)))}`
            : `x5t:${certificate}`;
        fingerprint = { current: () => value };
      } else {
        fingerprint = { current: () => "none" };
      }
      this.#fingerprints.set(kind, fingerprint);
    }
    return fingerprint;
  }
}
