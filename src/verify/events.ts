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
      /** A key set was fetched. */
      type: "jwks_fetched";
      /** The key-set URI. */
      uri: string;
      /** Time the request took, in ms. */
      durationMs: number;
      /** Keys in the new set. */
      keyCount: number;
      /** The set differs from the cached one (a rotation); cached verifications of old keys end. */
      changed: boolean;
      /** The refresh ran in the background (stale keys served meanwhile). */
      background: boolean;
    }
  | {
      /** A key-set fetch (or the issuer's discovery) failed; `error.cause` says why. */
      type: "jwks_failed";
      /** The key-set URI, or the discovery URL when discovery failed. */
      uri: string;
      /** The issuer whose keys were wanted, when the verifier knows it. */
      issuer?: string;
      /** Time until the failure, in ms. */
      durationMs: number;
      /** `VerifierUnavailableError` or `DiscoveryError`, with the network or HTTP cause. */
      error: M2MError;
    }
  | {
      /** Keys past their max age were served while a refresh runs or after it failed. */
      type: "jwks_stale";
      /** The key-set URI. */
      uri: string;
      /** Age of the served keys, in ms (at most `jwks.staleMaxAgeMs`). */
      ageMs: number;
    }
  | {
      /** A token needed a refetch (unknown `kid`) that the cooldown refused. */
      type: "jwks_cooldown";
      /** The key-set URI. */
      uri: string;
      /** Time until a refetch is allowed again, in ms. */
      retryInMs: number;
    }
  | {
      /** A token was refused. */
      type: "verification_failed";
      /** The error's stable code (`ERR_JWT_EXPIRED`, `ERR_INSUFFICIENT_SCOPE`, …). */
      code: string;
      /**
       * The token's `iss`, only when it is one of the configured issuers (a listed tenant of a
       * template, an issuer an `issuers` resolver accepted), so the value is one of yours, never a
       * string an attacker chose; absent otherwise (not a JWT, an unlisted `iss`, a tenant under
       * `tenants: "any"`).
       */
      issuer?: string;
      /** The error the caller got. */
      error: M2MError;
    }
  | {
      /** The introspection endpoint (RFC 7662) answered. */
      type: "introspection_answered";
      /** The introspection endpoint URL. */
      endpoint: string;
      /** The answer's `active`. */
      active: boolean;
      /** Time the request took, in ms. */
      durationMs: number;
    }
  | {
      /** An introspection request failed (network, timeout, non-2xx or malformed answer). */
      type: "introspection_failed";
      /** The introspection endpoint URL. */
      endpoint: string;
      /** Time until the failure, in ms. */
      durationMs: number;
      /** `VerifierUnavailableError` with the cause. */
      error: M2MError;
    }
  | {
      /** An adapter answered (or passed on) a 4xx/5xx. */
      type: "request_refused";
      /** The HTTP status: 400, 401, 403 or 503. */
      status: number;
      /** The RFC 6750 error (`invalid_token`, `insufficient_scope`, …). */
      error: string;
      /** The stable code of the cause (`ERR_JWT_EXPIRED`, `ERR_VERIFIER_UNAVAILABLE`, …). */
      code: string;
      /** The error behind the refusal (a 503's `VerifierUnavailableError`, a refused token's `InvalidTokenError`). */
      cause: unknown;
    }
  | {
      /** An adapter could not answer a refusal; the error went to the framework's error handling. */
      type: "response_failed";
      /** The status the adapter meant to send. */
      status: number;
      /** What failed (a response already sent, an `errorBody` hook that threw). */
      error: unknown;
    };

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
