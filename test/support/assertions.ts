/**
 * Assertions for the workload identity tests: JWTs as a platform (Kubernetes, GitHub Actions, a
 * SPIFFE agent) would issue them, signed with a key of the test's choosing, and a file a "kubelet"
 * rewrites.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, type JWTPayload, SignJWT } from "jose";

export interface MintAssertionOptions {
  iss: string;
  sub: string;
  aud: string | string[];
  /** Lifetime from now, in seconds (negative: already expired). Default 600. */
  expiresInSeconds?: number;
  /** Now, in ms since the epoch. Default `Date.now()`. */
  now?: number;
  alg?: string;
  kid?: string;
  claims?: JWTPayload;
}

/** A JWT with `iss`, `sub`, `aud`, `iat`, `exp` and a fresh `jti`. */
export async function mintAssertion(
  key: CryptoKey | Uint8Array,
  options: MintAssertionOptions,
): Promise<string> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? "RS256", ...(options.kid && { kid: options.kid }), typ: "JWT" })
    .setIssuer(options.iss)
    .setSubject(options.sub)
    .setAudience(options.aud)
    .setJti(crypto.randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 600))
    .sign(key);
}

/** A token file in a folder of its own, rewritten atomically as the kubelet does. */
export interface TokenFile {
  path: string;
  /** Replaces the token (write to a new file, then rename over the old one). */
  write(token: string): void;
  remove(): void;
}

export function tokenFile(name = "token"): TokenFile {
  const dir = mkdtempSync(join(tmpdir(), "m2m-token-"));
  const path = join(dir, name);
  return {
    path,
    write(token) {
      const next = join(dir, `.${name}.next`);
      writeFileSync(next, `${token}\n`, { mode: 0o600 });
      renameSync(next, path);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `sub` of a JWT, unverified (what a test server reads of a client assertion). */
export function subjectOf(jwt: string | null | undefined): string | undefined {
  if (!jwt) return undefined;
  try {
    return decodeJwt(jwt).sub;
  } catch {
    return undefined;
  }
}
