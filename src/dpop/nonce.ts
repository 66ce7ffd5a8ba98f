import { base64url } from "jose";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";

/**
 * Server-provided DPoP nonces (RFC 9449 §9): the value to hand out in `DPoP-Nonce`, and whether a
 * proof's `nonce` is still accepted. Plug in your own (for example one shared by a fleet), or use
 * {@link createDpopNonce}.
 */
export interface DpopNonceSource {
  /** The nonce to send in `DPoP-Nonce` now. */
  current(): string | Promise<string>;
  /** Whether a proof carrying this nonce is accepted. */
  check(nonce: string): boolean | Promise<boolean>;
}

/** Options of {@link createDpopNonce}. */
export interface DpopNonceOptions {
  /**
   * HMAC key (at least 32 bytes). Processes that share it accept each other's nonces. Default: 32
   * random bytes per call of `createDpopNonce`.
   */
  secret?: Uint8Array;
  /** A nonce changes every `stepSeconds`. Default 60. */
  stepSeconds?: number;
  /** How many steps a nonce stays accepted (the current one included). Default 5 (5 minutes). */
  acceptedSteps?: number;
  /** Time source, milliseconds since the epoch. Default `Date.now`. */
  clock?: {
    /** Milliseconds since the epoch. */
    now(): number;
  };
}

/** The names of {@link DpopNonceOptions}. */
export const DPOP_NONCE_OPTION_NAMES: OptionNames<DpopNonceOptions> = {
  secret: true,
  stepSeconds: true,
  acceptedSteps: true,
  clock: true,
};

/**
 * Stateless nonces, as oidc-provider makes them: the nonce of time step `n` is
 * `base64url(HMAC-SHA-256(secret, n))`; a nonce is accepted for `acceptedSteps` steps. Nothing is
 * stored per client.
 */
export function createDpopNonce(options: DpopNonceOptions = {}): DpopNonceSource {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [DPOP_NONCE_OPTION_NAMES], "createDpopNonce()");
  const stepMs = (options.stepSeconds ?? 60) * 1000;
  const accepted = options.acceptedSteps ?? 5;
  if (!(stepMs > 0)) throw new TypeError("stepSeconds must be a positive number");
  if (!Number.isSafeInteger(accepted) || accepted < 1)
    throw new TypeError("acceptedSteps must be a positive integer");
  if (options.secret !== undefined && options.secret.byteLength < 32) {
    throw new TypeError("secret must be at least 32 bytes");
  }
  const clock = options.clock ?? { now: () => Date.now() };
  const secret = new Uint8Array(options.secret ?? crypto.getRandomValues(new Uint8Array(32)));
  const key = crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const byStep = new Map<number, Promise<string>>();

  function nonceOf(step: number): Promise<string> {
    let value = byStep.get(step);
    if (!value) {
      const data = new TextEncoder().encode(`DPoP-Nonce ${step}`);
      value = key.then(async (k) =>
        base64url.encode(new Uint8Array(await crypto.subtle.sign("HMAC", k, data))),
      );
      byStep.set(step, value);
    }
    return value;
  }

  function currentStep(): number {
    const step = Math.floor(clock.now() / stepMs);
    // Keep only the accepted steps, so the map stays small.
    if (byStep.size > accepted)
      for (const old of byStep.keys()) if (old <= step - accepted) byStep.delete(old);
    return step;
  }

  return {
    current: () => nonceOf(currentStep()),
    async check(nonce) {
      const step = currentStep();
      for (let i = 0; i < accepted; i++) {
        if ((await nonceOf(step - i)) === nonce) return true;
      }
      return false;
    },
  };
}
