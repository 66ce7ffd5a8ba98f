import type { JWK } from "jose";
import { parseJsonObject } from "../lib/http.js";
import { jwkFitsAlg } from "./algorithms.js";

/**
 * A JWK set's text, fetched or read back from a shared store: a JSON object with a `keys` array, of
 * which only public signature keys are kept (a private or symmetric key in a JWKS is never used).
 * Throws when it is not a JWK set.
 */
export function parseKeySet(text: string): { text: string; keys: JWK[] } {
  const body = parseJsonObject(text);
  if (!body || !Array.isArray(body.keys)) throw new Error("not a JWK set");
  const keys = body.keys.filter(
    (k): k is JWK =>
      typeof k === "object" &&
      k !== null &&
      typeof k.kty === "string" &&
      k.kty !== "oct" &&
      k.d === undefined,
  );
  return { text, keys };
}

/** With a `kid`: the keys with that `kid` that fit `alg`. Without: every key that fits `alg`. */
export function findKeys(keys: readonly JWK[], alg: string, kid: string | undefined): JWK[] {
  const found: JWK[] = [];
  for (const key of keys) {
    if (kid !== undefined && key.kid !== kid) continue;
    if (jwkFitsAlg(key, alg)) found.push(key);
  }
  return found;
}
