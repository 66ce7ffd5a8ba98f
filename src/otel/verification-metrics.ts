import type { Attributes, Meter } from "@opentelemetry/api";
import { cacheHits, verifyNow } from "../verify/verifier.js";
import { bump, type Cell, cellsOf } from "./counter-cells.js";
import { errorType } from "./http.js";
import type { InstrumentOptions } from "./options.js";

/** Duration buckets of verifications, in seconds: from a cached answer (µs) to a JWKS fetch. */
const VERIFY_BUCKETS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 0.5, 1, 2.5, 5,
];

export interface VerifierLike {
  verify(token: string, options?: unknown): Promise<unknown>;
}

type VerifyNow = (token: string, options?: unknown) => unknown;

/**
 * Times every verification that checks a signature or fails (`m2m.verifier.verification.duration`,
 * `error.type` = the error's code) by wrapping the verifier's own methods, so a verifier that is not
 * instrumented pays nothing. Answers from the verified-token cache are counted, not timed
 * (`m2m.verifier.cache.hits`, reported at collection): a cached verification costs an addition.
 */
export function wrapVerifier(verifier: VerifierLike, meter: Meter, options: InstrumentOptions): () => void {
  const histogram = meter.createHistogram("m2m.verifier.verification.duration", {
    description:
      "Access token verifications that checked a signature or failed, by outcome (error.type is the error code on failure).",
    unit: "s",
    advice: { explicitBucketBoundaries: VERIFY_BUCKETS },
  });
  const hitCells = cellsOf(
    meter,
    "m2m.verifier.cache.hits",
    "Successful verifications answered from the verified-token cache (no signature check).",
    "{verification}",
  );
  const target = verifier as VerifierLike & { [verifyNow]?: VerifyNow; [cacheHits]?: number };
  const own = Object.getOwnPropertyDescriptors(target);
  const now = target[verifyNow];
  if (typeof now !== "function") return () => {};
  const success: Attributes = {};
  const withClient = options.includeClientId === true;
  let hit: Cell | undefined;
  const hitsByClient = new Map<string, Cell>();
  const clientHit = (clientId: unknown): Cell => {
    const key = typeof clientId === "string" ? clientId : "";
    let cell = hitsByClient.get(key);
    if (cell === undefined) {
      cell = hitCells.cell(key === "" ? success : { "m2m.client_id": key });
      hitsByClient.set(key, cell);
    }
    return cell;
  };
  const fail = (started: number, error: unknown) => {
    histogram.record((performance.now() - started) / 1000, { "error.type": errorType(error) });
  };
  const succeed = (started: number, result: unknown) => {
    const clientId = withClient ? (result as { clientId?: unknown }).clientId : undefined;
    histogram.record(
      (performance.now() - started) / 1000,
      typeof clientId === "string" ? { "m2m.client_id": clientId } : success,
    );
  };
  const timed: VerifyNow = function timedVerifyNow(this: unknown, token, callOptions) {
    const hitsBefore = target[cacheHits];
    const started = performance.now();
    let outcome: unknown;
    try {
      outcome = now.call(this, token, callOptions);
    } catch (error) {
      fail(started, error);
      throw error;
    }
    if (outcome instanceof Promise) {
      return outcome.then(
        (result: unknown) => {
          succeed(started, result);
          return result;
        },
        (error: unknown) => {
          fail(started, error);
          throw error;
        },
      );
    }
    if (target[cacheHits] !== hitsBefore) {
      if (withClient) clientHit((outcome as { clientId?: unknown }).clientId).value++;
      else hit = bump(hit, hitCells, success);
      return outcome;
    }
    succeed(started, outcome);
    return outcome;
  };
  Object.defineProperty(target, verifyNow, { value: timed, configurable: true, writable: true });
  Object.defineProperty(target, "verify", {
    configurable: true,
    writable: true,
    value: function verify(this: unknown, token: string, callOptions?: unknown) {
      try {
        const outcome = timed.call(this, token, callOptions);
        return outcome instanceof Promise ? outcome : Promise.resolve(outcome);
      } catch (error) {
        return Promise.reject(error);
      }
    },
  });
  return () => {
    for (const key of [verifyNow, "verify"] as const) {
      const descriptor = own[key as keyof typeof own];
      if (descriptor) Object.defineProperty(target, key, descriptor);
      else delete (target as unknown as Record<PropertyKey, unknown>)[key];
    }
  };
}
