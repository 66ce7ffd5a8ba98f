import { base64url, SignJWT } from "jose";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { DpopKey } from "./key.js";

/** What one DPoP proof is for (RFC 9449 §4.2). */
export interface DpopProofInput {
  /** HTTP method of the request (`htm`), e.g. `"POST"`. */
  method: string;
  /** URL of the request (`htu`); its query and fragment are left out, as RFC 9449 §4.2 says. */
  url: string | URL;
  /** The access token the request carries; its SHA-256 goes into `ath` (RFC 9449 §4.2, §7). */
  accessToken?: string | undefined;
  /** The server's latest `DPoP-Nonce` (RFC 9449 §8, §9). */
  nonce?: string | undefined;
  /** Milliseconds since the epoch for `iat`; default now. */
  now?: number | undefined;
}

/** The names of {@link DpopProofInput}. */
export const DPOP_PROOF_INPUT_NAMES: OptionNames<DpopProofInput> = {
  method: true,
  url: true,
  accessToken: true,
  nonce: true,
  now: true,
};

/** base64url SHA-256 of the access token's ASCII octets: the `ath` claim (RFC 9449 §4.2). */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/** The `htu` for a request URL: without query and fragment (RFC 9449 §4.2). */
export function htuOf(url: string | URL): string {
  const parsed = new URL(url);
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}

/**
 * Signs a fresh DPoP proof JWT (RFC 9449 §4.2): header `typ: dpop+jwt`, `alg`, public `jwk`;
 * claims `jti` (random), `htm`, `htu`, `iat`, and `ath` / `nonce` when given. Every request needs
 * its own proof: servers refuse a `jti` they have seen.
 *
 * @example
 * const key = await generateDpopKey();
 * const proof = await createDpopProof(key, { method: "GET", url: "https://api.example.com/data", accessToken });
 * await fetch(url, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
 */
export async function createDpopProof(key: DpopKey, input: DpopProofInput): Promise<string> {
  if (typeof input !== "object" || input === null)
    throw new TypeError("createDpopProof needs { method, url }");
  checkOptionNames(input, [DPOP_PROOF_INPUT_NAMES], "createDpopProof()");
  const claims: Record<string, unknown> = {
    jti: crypto.randomUUID(),
    htm: input.method.toUpperCase(),
    htu: htuOf(input.url),
    iat: Math.floor((input.now ?? Date.now()) / 1000),
  };
  if (input.accessToken !== undefined) claims.ath = await accessTokenHash(input.accessToken);
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk as Record<string, string> })
    .sign(key.privateKey);
}
