import type { JWK } from "jose";

/**
 * What the verifier and the DPoP proof check need from the runtime. `node.ts` uses `node:crypto`
 * (synchronous, no thread pool); `web.ts` uses WebCrypto through jose. The package's `imports` map
 * picks one with the `node` condition, as aws-jwt-verify does with `#node-web-compat`.
 */
export interface Platform<Key> {
  /** Imports a public JWK already checked to fit `alg`. Throws when the runtime refuses it. */
  importKey(jwk: JWK, alg: string): Key | Promise<Key>;
  /** Verifies a JWS signature over `signingInput` (ASCII). */
  verify(alg: string, key: Key, signingInput: string, signature: string): boolean | Promise<boolean>;
  /** Decodes base64url text to a string; `undefined` when it is not valid base64url or UTF-8. */
  decodeToString(base64url: string): string | undefined;
  /**
   * base64url SHA-256 of the UTF-8 octets of `text`: RFC 7638 thumbprints of DPoP proof keys and the
   * `ath` of RFC 9449 §4.2. Synchronous on Node.
   */
  sha256(text: string): string | Promise<string>;
}
