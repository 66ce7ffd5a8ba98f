/**
 * OpenTelemetry metrics and traces for a `ClientCredentialsClient` or a verifier, through
 * `@opentelemetry/api` only (an optional peer dependency; bring your own SDK). Names follow
 * OpenTelemetry's semantic conventions where they exist (`http.client.request.duration`,
 * `error.type`, `server.address`) and `m2m.*` otherwise; docs/observability.md lists every metric and span.
 */
import type { ClientCredentialsClient } from "../client/client.js";
import { MissingPeerDependencyError } from "../errors.js";
import { type Instrumentable, instrumentationHook, type Operation } from "../lib/instrumentation.js";
import { checkOptionNames } from "../lib/option-names.js";
import type { Verifier } from "../verify/options.js";
import { sharedVerifiersHook, type verifyAccessToken } from "../verify/shared-verifiers.js";
import { openTelemetryApi as otel } from "./api.js";
import { tracedFetch } from "./http.js";
import { INSTRUMENT_OPTION_NAMES, type InstrumentOptions } from "./options.js";
import { type ClientLike, type Event, Telemetry } from "./telemetry.js";
import { type VerifierLike, wrapVerifier } from "./verification-metrics.js";
import { VERSION } from "./version.js";

export type { InstrumentOptions } from "./options.js";
export { MissingPeerDependencyError };

/** Detaches the instrumentation: nothing more is recorded for that client or verifier. */
export type Uninstrument = () => void;

/** Name under which meters and tracers are obtained (the instrumentation scope). */
export const INSTRUMENTATION_SCOPE = "m2m-kit";

/**
 * Records metrics and spans for a `ClientCredentialsClient`, a verifier (`createVerifier`), or
 * `verifyAccessToken` (every verifier it shares, made before or after), on the given or the global
 * OpenTelemetry providers. Returns a function that detaches it. Nothing is
 * recorded for clients and verifiers that are not instrumented, and no `@opentelemetry/*` module is
 * loaded unless this entry point is imported.
 *
 * @throws TypeError when `target` is neither, or an option has the wrong type;
 *   {@link MissingPeerDependencyError} (`ERR_MISSING_PEER_DEPENDENCY`) when `@opentelemetry/api` is
 *   not installed (importing this entry point works without it).
 * @example
 * ```ts
 * import { instrument } from "m2m-kit/otel";
 * const client = new ClientCredentialsClient({ issuer, clientId, clientSecret });
 * instrument(client); // uses the providers the OpenTelemetry Node SDK registered
 * ```
 */
export function instrument(
  target: ClientCredentialsClient | Verifier | typeof verifyAccessToken,
  options: InstrumentOptions = {},
): Uninstrument {
  // Without the peer, nothing is attached (verifyAccessToken's future verifiers included).
  const { metrics, trace } = otel();
  const hook = (target as Partial<Instrumentable<Event>> | null)?.[instrumentationHook];
  const sharedHook = (target as { [sharedVerifiersHook]?: unknown } | null)?.[sharedVerifiersHook];
  if (typeof hook !== "function" && typeof sharedHook !== "function") {
    throw new TypeError(
      "instrument needs a ClientCredentialsClient, a verifier made by createVerifier, or verifyAccessToken",
    );
  }
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [INSTRUMENT_OPTION_NAMES], "instrument()");
  for (const name of ["includeAudience", "includeClientId", "traceHttp"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") {
      throw new TypeError(`${name} must be a boolean`);
    }
  }
  if (typeof sharedHook === "function") {
    // verifyAccessToken: every verifier it shares, made before or after this call.
    const detach = (sharedHook as (instrumenter: (verifier: Verifier) => () => void) => () => void)(
      (verifier) => instrument(verifier, options),
    );
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      detach();
    };
  }
  const attach = hook as Instrumentable<Event>[typeof instrumentationHook];
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(
    INSTRUMENTATION_SCOPE,
    VERSION,
  );
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(
    INSTRUMENTATION_SCOPE,
    VERSION,
  );
  const isClient = typeof (target as ClientLike).getToken === "function";
  const telemetry = new Telemetry(meter, tracer, options, isClient ? (target as ClientLike) : undefined);
  const detachHook = attach.call(target, {
    onEvent: (event: Event) => telemetry.onEvent(event),
    run: <T>(operation: Operation, work: () => Promise<T>) => telemetry.run(operation, work),
    ...(options.traceHttp === false
      ? {}
      : { wrapFetch: (fetch) => tracedFetch(fetch, tracer, telemetry.httpDuration) }),
  });
  const unwrap = isClient ? undefined : wrapVerifier(target as VerifierLike, meter, options);
  let detached = false;
  return () => {
    if (detached) return;
    detached = true;
    detachHook();
    unwrap?.();
  };
}
