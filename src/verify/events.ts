import type { M2MError } from "../errors.js";

/**
 * What a verifier (and an adapter) reports through `onEvent`. Events never carry a token, a client
 * secret or a claim value other than the issuer and client id; `error` is an `M2MError` whose
 * message names no token either. Durations are milliseconds, measured with the verifier's clock.
 *
 * - `jwks_fetched`: a key set was fetched (`changed`: it differs from the cached one).
 * - `jwks_failed`: a key-set fetch (or the issuer's discovery) failed; `error.cause` says why.
 * - `jwks_stale`: keys past their max age were served while a refresh runs or after it failed.
 * - `jwks_cooldown`: a token needed a refetch (unknown `kid`) that the cooldown refused.
 * - `verification_failed`: a token was refused, with the error's stable `code` and, when the token
 *   is a readable JWT whose `iss` is one of the configured issuers, that `issuer` (else no field).
 * - `introspection_answered` / `introspection_failed`: an RFC 7662 request and its outcome.
 * - `request_refused`: an adapter answered (or passed on) a 4xx/5xx, with the HTTP status.
 * - `response_failed`: an adapter could not answer a refusal (a response already sent, an
 *   `errorBody` hook that threw); the error went to the framework's error handling.
 */
export type VerifierEvent =
  | {
      type: "jwks_fetched";
      uri: string;
      durationMs: number;
      keyCount: number;
      changed: boolean;
      /** The refresh ran in the background (stale keys served meanwhile). */
      background: boolean;
    }
  | { type: "jwks_failed"; uri: string; issuer?: string; durationMs: number; error: M2MError }
  | { type: "jwks_stale"; uri: string; ageMs: number }
  | { type: "jwks_cooldown"; uri: string; retryInMs: number }
  | {
      type: "verification_failed";
      code: string;
      /** The token's `iss`, only when it is one of the configured issuers. */
      issuer?: string;
      error: M2MError;
    }
  | { type: "introspection_answered"; endpoint: string; active: boolean; durationMs: number }
  | { type: "introspection_failed"; endpoint: string; durationMs: number; error: M2MError }
  | {
      type: "request_refused";
      status: number;
      /** The RFC 6750 error (`invalid_token`, `insufficient_scope`, …). */
      error: string;
      /** The stable code of the cause (`ERR_JWT_EXPIRED`, `ERR_VERIFIER_UNAVAILABLE`, …). */
      code: string;
      cause: unknown;
    }
  | { type: "response_failed"; status: number; error: unknown };

/** The `onEvent` hook of a verifier and of the adapters. An exception it throws is ignored. */
export type VerifierEventListener = (event: VerifierEvent) => void;

/** Calls the listener, ignoring what it throws: observing never changes an answer. */
export function emitTo(listener: VerifierEventListener | undefined, event: VerifierEvent): void {
  if (listener === undefined) return;
  try {
    listener(event);
  } catch {
    // A logger that throws must not turn a verification into a failure.
  }
}
