import type { JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { checkOptionNames, knownOptions } from "../lib/option-names.js";
import {
  type AuthResult,
  ISSUER_OPTION_NAMES,
  VERIFIER_OPTION_NAMES,
  VERIFY_CALL_OPTION_NAMES,
  type Verifier,
  type VerifierOptions,
  type VerifyCallOptions,
} from "./options.js";
import { createVerifierFor } from "./verifier.js";

/** Instruments a verifier; returns the function that detaches it. */
type Instrumenter = (verifier: Verifier) => () => void;

/**
 * The key under which `verifyAccessToken` accepts an instrumenter for every verifier it shares,
 * those made already and those made later (`instrument(verifyAccessToken)` in `m2m-kit/otel`).
 */
export const sharedVerifiersHook: unique symbol = Symbol.for("m2m-kit.sharedVerifiers");

let instrumenters: readonly Instrumenter[] = [];
/** What each instrumenter attached to each shared verifier, detached when it leaves the cache. */
const attached = new WeakMap<Verifier, Map<Instrumenter, () => void>>();

function instrumentShared(verifier: Verifier, instrumenter: Instrumenter): void {
  let detachers = attached.get(verifier);
  if (detachers === undefined) {
    detachers = new Map();
    attached.set(verifier, detachers);
  }
  if (!detachers.has(instrumenter)) detachers.set(instrumenter, instrumenter(verifier));
}

// The cache is made, and the hook set on `verifyAccessToken`, together: both stay out of bundles
// that do not use `verifyAccessToken` (a top-level `Object.defineProperty` would keep them).
const shared = /* @__PURE__ */ sharedVerifiers();

function sharedVerifiers(): LRUCache<string, Verifier> {
  const cache = new LRUCache<string, Verifier>({
    max: 100,
    dispose: (verifier) => {
      for (const detach of attached.get(verifier)?.values() ?? []) detach();
      attached.delete(verifier);
    },
  });
  Object.defineProperty(verifyAccessToken, sharedVerifiersHook, {
    value(instrumenter: Instrumenter): () => void {
      instrumenters = [...instrumenters, instrumenter];
      for (const verifier of shared.values()) instrumentShared(verifier, instrumenter);
      return () => {
        instrumenters = instrumenters.filter((i) => i !== instrumenter);
        for (const verifier of shared.values()) {
          const detachers = attached.get(verifier);
          detachers?.get(instrumenter)?.();
          detachers?.delete(instrumenter);
        }
      };
    },
  });
  return cache;
}

/**
 * Verifies an access token with a verifier shared per configuration (and so one JWKS cache per
 * configuration). Options with functions (`fetch`, `clock`, claim predicates) get a verifier of their
 * own per call: use `createVerifier` for those. `instrument(verifyAccessToken)` from `m2m-kit/otel`
 * instruments every verifier this function uses, made before or after. A sender-constrained token
 * (`cnf`) is refused unless `confirmation` says what this call checked (see
 * {@link VerifyCallOptions.confirmation}).
 *
 * @example
 * ```ts
 * const auth = await verifyAccessToken(token, { issuer, audience: "https://api.example.com", requiredScopes: ["read:data"] });
 * ```
 */
export function verifyAccessToken<Claims extends JWTPayload = JWTPayload>(
  token: string,
  options: VerifierOptions & VerifyCallOptions,
): Promise<AuthResult<Claims>> {
  try {
    return sharedVerifier(options).verify<Claims>(token, callOptionsOf(options));
  } catch (error) {
    // Bad options reject, as every other failure of this promise-returning function does.
    return Promise.reject(error);
  }
}

const WHERE = "verifyAccessToken()";

/** The per-call part of `verifyAccessToken`'s options (the rest configures the shared verifier). */
function callOptionsOf(options: VerifierOptions & VerifyCallOptions): VerifyCallOptions | undefined {
  const { requiredScopes, waitUntil, confirmation } = options;
  if (requiredScopes === undefined && waitUntil === undefined && confirmation === undefined) return undefined;
  return {
    ...(requiredScopes !== undefined && { requiredScopes }),
    ...(waitUntil !== undefined && { waitUntil }),
    ...(confirmation !== undefined && { confirmation }),
  };
}

const storeIds = /* @__PURE__ */ new WeakMap<object, string>();
let storeCount = 0;

/** A name for a `jwks.store` object in the key of the shared verifiers: the same object, the same name. */
function storeId(store: object): string {
  let id = storeIds.get(store);
  if (id === undefined) {
    id = `store #${++storeCount}`;
    storeIds.set(store, id);
  }
  return id;
}

/** The verifier `verifyAccessToken` shares for these options (made on first use). */
function sharedVerifier(options: VerifierOptions & VerifyCallOptions): Verifier {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("verifyAccessToken options must be an object ({ issuer, audience, … })");
  }
  const lists = [ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES, VERIFY_CALL_OPTION_NAMES];
  checkOptionNames(options, lists, WHERE);
  const {
    requiredScopes: _scopes,
    waitUntil: _waitUntil,
    confirmation: _confirmation,
    ...config
  } = knownOptions(options, lists);
  let key: string | undefined;
  const jwks = (config as VerifierOptions).jwks;
  try {
    key = JSON.stringify(config, function (this: unknown, name, v) {
      // A shared store is one by identity (its methods are not in JSON): one verifier per store.
      if (this === jwks && name === "store" && typeof v === "object" && v !== null) return storeId(v);
      if (typeof v === "function") throw new Error("unshareable");
      return v;
    });
  } catch {
    key = undefined;
  }
  let verifier = key === undefined ? undefined : shared.get(key);
  if (!verifier) {
    verifier = createVerifierFor(config as VerifierOptions, WHERE);
    if (key !== undefined) shared.set(key, verifier);
    for (const instrumenter of instrumenters) instrumentShared(verifier, instrumenter);
  }
  return verifier;
}
