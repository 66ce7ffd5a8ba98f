/**
 * OpenTelemetry metrics and traces for a `ClientCredentialsClient` or a verifier, through
 * `@opentelemetry/api` only (an optional peer dependency; bring your own SDK). Names follow
 * OpenTelemetry's semantic conventions where they exist (`http.client.request.duration`,
 * `error.type`, `server.address`) and `m2m.*` otherwise; docs/observability.md lists every metric and span.
 */
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  MeterProvider,
  ObservableResult,
  Span,
  Tracer,
  TracerProvider,
} from "@opentelemetry/api";
import type { ClientCredentialsClient } from "../client/client.js";
import { MissingPeerDependencyError } from "../errors.js";
import { type Instrumentable, instrumentationHook, type Operation } from "../lib/instrumentation.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import type { Verifier } from "../verify/options.js";
import { cacheHits, sharedVerifiersHook, type verifyAccessToken, verifyNow } from "../verify/verifier.js";
import { openTelemetryApi as otel } from "./api.js";
import { errorType, tracedFetch } from "./http.js";
import { VERSION } from "./version.js";

export { MissingPeerDependencyError };

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where metrics go. Default: the global meter provider (`metrics.setGlobalMeterProvider`, the Node SDK). */
  meterProvider?: MeterProvider;
  /** Where spans go. Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
  /**
   * Adds `m2m.audience` to the client's metrics and spans. Off by default: one time series per
   * audience (cardinality).
   */
  includeAudience?: boolean;
  /**
   * Adds `m2m.client_id`: the client's own id on client metrics and spans; the verified token's
   * client on successful verifications. Off by default (cardinality).
   */
  includeClientId?: boolean;
  /**
   * HTTP client spans, `http.client.request.duration` and `traceparent` on outgoing requests.
   * Turn off when the `fetch` in use is instrumented already (e.g. by
   * `@opentelemetry/instrumentation-undici`), so requests are not traced twice. Default true.
   */
  traceHttp?: boolean;
}

/** The names of {@link InstrumentOptions}. */
const INSTRUMENT_OPTION_NAMES: OptionNames<InstrumentOptions> = {
  meterProvider: true,
  tracerProvider: true,
  includeAudience: true,
  includeClientId: true,
  traceHttp: true,
};

/** Detaches the instrumentation: nothing more is recorded for that client or verifier. */
export type Uninstrument = () => void;

/** Name under which meters and tracers are obtained (the instrumentation scope). */
export const INSTRUMENTATION_SCOPE = "m2m-kit";

/** Duration buckets of remote work, in seconds (the semantic conventions' HTTP buckets). */
const REMOTE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Duration buckets of verifications, in seconds: from a cached answer (µs) to a JWKS fetch. */
const VERIFY_BUCKETS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 0.5, 1, 2.5, 5,
];

/** OAuth `error` values kept in `m2m.oauth.error` (RFC 6749 §5.2, RFC 8707, RFC 9449); others are `_OTHER`. */
const OAUTH_ERRORS = new Set([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "invalid_dpop_proof",
  "use_dpop_nonce",
  "server_error",
  "temporarily_unavailable",
  "access_denied",
]);

const SPAN_NAMES: Record<Operation["kind"], string> = {
  token_request: "m2m.token_request",
  discovery: "m2m.discovery",
  jwks_fetch: "m2m.jwks_fetch",
  introspection: "m2m.introspection",
};

interface ClientLike {
  readonly clientId: string;
  getToken(...args: never[]): unknown;
}

interface VerifierLike {
  verify(token: string, options?: unknown): Promise<unknown>;
}

type Event = { type: string; [field: string]: unknown };

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

class Telemetry {
  readonly httpDuration: Histogram;
  readonly #tracer: Tracer;
  readonly #meter: Meter;
  readonly #base: Attributes;
  readonly #includeAudience: boolean;
  readonly #durations: Partial<Record<Operation["kind"], Histogram>> = {};
  readonly #retries;
  readonly #refreshes;
  readonly #staleKeys;
  readonly #cooldownRefusals;
  /** Counted here, reported by asynchronous counters: a cache hit costs an addition. */
  readonly #hits: Cells | undefined;
  readonly #misses: Cells | undefined;
  #hit: Cell | undefined;
  #miss: Cell | undefined;
  readonly #hitsByAudience = new Map<string, Cell>();
  readonly #missesByAudience = new Map<string, Cell>();
  #leaseWaitHistogram: Histogram | undefined;
  #leaseUnavailableCounter: Counter | undefined;
  /** Spans this instrumentation opened and has not ended, so events land only on its own spans. */
  readonly #open = new WeakSet<Span>();

  constructor(meter: Meter, tracer: Tracer, options: InstrumentOptions, client: ClientLike | undefined) {
    const { ValueType } = otel();
    this.#meter = meter;
    this.#tracer = tracer;
    this.#includeAudience = client !== undefined && options.includeAudience === true;
    this.#base = client && options.includeClientId ? { "m2m.client_id": client.clientId } : {};
    this.httpDuration = meter.createHistogram("http.client.request.duration", {
      description: "Duration of HTTP client requests (to the response headers).",
      unit: "s",
      advice: { explicitBucketBoundaries: REMOTE_BUCKETS },
    });
    this.#retries = meter.createCounter("m2m.client.token.retries", {
      description: "Token request attempts that failed and were retried.",
      unit: "{retry}",
      valueType: ValueType.INT,
    });
    this.#refreshes = meter.createCounter("m2m.client.token.refreshes", {
      description: "Background refreshes started for tokens inside their refresh window.",
      unit: "{refresh}",
      valueType: ValueType.INT,
    });
    this.#staleKeys = meter.createCounter("m2m.verifier.jwks.stale_served", {
      description: "Times a key set past its max age was used because the JWKS endpoint failed.",
      unit: "{use}",
      valueType: ValueType.INT,
    });
    this.#cooldownRefusals = meter.createCounter("m2m.verifier.jwks.refetch_refused", {
      description: "Unknown-kid refetches refused because the JWKS cooldown was running.",
      unit: "{refusal}",
      valueType: ValueType.INT,
    });
    if (client) {
      this.#hits = cellsOf(
        meter,
        "m2m.client.cache.hits",
        "getToken calls answered from the token cache.",
        "{call}",
      );
      this.#misses = cellsOf(
        meter,
        "m2m.client.cache.misses",
        "getToken calls that found no usable cached token.",
        "{call}",
      );
    }
  }

  onEvent(event: Event): void {
    switch (event.type) {
      case "cache_hit":
        if (this.#includeAudience) this.#byAudience(this.#hits, this.#hitsByAudience, event).value++;
        else if (this.#hits) this.#hit = bump(this.#hit, this.#hits, this.#base);
        return;
      case "cache_miss":
        if (this.#includeAudience) this.#byAudience(this.#misses, this.#missesByAudience, event).value++;
        else if (this.#misses) this.#miss = bump(this.#miss, this.#misses, this.#base);
        return;
      case "refresh_started":
        this.#refreshes.add(1, this.#attributes(event));
        return;
      case "retry": {
        const status = typeof event.status === "number" ? event.status : undefined;
        this.#retries.add(1, {
          ...this.#attributes(event),
          ...(status === undefined ? {} : { "http.response.status_code": status }),
        });
        this.#activeSpan()?.addEvent("retry", {
          "m2m.retry.attempt": Number(event.attempt),
          "m2m.retry.delay_ms": Number(event.delayMs),
          ...(status === undefined ? {} : { "http.response.status_code": status }),
        });
        return;
      }
      case "token_fetched":
      case "token_failed":
        if (typeof event.attempts === "number") {
          this.#activeSpan()?.setAttribute("m2m.token.attempts", event.attempts);
        }
        return;
      case "lease_wait":
        this.#leaseWaits().record(Number(event.waitedMs) / 1000, {
          ...this.#attributes(event),
          "m2m.lease.outcome": String(event.outcome),
        });
        return;
      case "lease_unavailable":
        this.#leaseUnavailable().add(1, this.#attributes(event));
        return;
      case "jwks_stale":
        this.#staleKeys.add(1);
        this.#activeSpan()?.addEvent("stale_keys_served");
        return;
      case "jwks_cooldown":
        this.#cooldownRefusals.add(1);
        return;
    }
  }

  run<T>(operation: Operation, work: () => Promise<T>): Promise<T> {
    const { context, SpanKind, SpanStatusCode, trace } = otel();
    const attributes = this.#operationAttributes(operation);
    const parent = context.active();
    const span = this.#tracer.startSpan(
      SPAN_NAMES[operation.kind],
      { kind: SpanKind.INTERNAL, attributes },
      parent,
    );
    this.#open.add(span);
    const started = performance.now();
    const end = (extra: Attributes) => {
      this.#duration(operation.kind).record((performance.now() - started) / 1000, {
        ...attributes,
        ...extra,
      });
      this.#open.delete(span);
      span.end();
    };
    return context.with(trace.setSpan(parent, span), work).then(
      (value) => {
        end({});
        return value;
      },
      (error: unknown) => {
        const extra = failureAttributes(error);
        span.setAttributes(extra);
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(extra["error.type"]) });
        end(extra);
        throw error;
      },
    );
  }

  #leaseWaits(): Histogram {
    this.#leaseWaitHistogram ??= this.#meter.createHistogram("m2m.client.lease.wait.duration", {
      description: "Time a client waited for another process holding a shared store's lease.",
      unit: "s",
      advice: { explicitBucketBoundaries: REMOTE_BUCKETS },
    });
    return this.#leaseWaitHistogram;
  }

  #leaseUnavailable(): Counter {
    this.#leaseUnavailableCounter ??= this.#meter.createCounter("m2m.client.lease.unavailable", {
      description: "Token requests made without the shared store's lease because the store did not answer.",
      unit: "{request}",
      valueType: otel().ValueType.INT,
    });
    return this.#leaseUnavailableCounter;
  }

  #activeSpan(): Span | undefined {
    const { context, trace } = otel();
    const span = trace.getSpan(context.active());
    return span && this.#open.has(span) ? span : undefined;
  }

  #attributes(event: Event): Attributes {
    if (!this.#includeAudience) return this.#base;
    const audience = audienceOf(event);
    return audience === "" ? this.#base : { ...this.#base, "m2m.audience": audience };
  }

  #byAudience(cells: Cells | undefined, byAudience: Map<string, Cell>, event: Event): Cell {
    const audience = audienceOf(event);
    let cell = byAudience.get(audience);
    if (cell === undefined) {
      cell = cells ? cells.cell(this.#attributes(event)) : { value: 0 };
      byAudience.set(audience, cell);
    }
    return cell;
  }

  #operationAttributes(operation: Operation): Attributes {
    switch (operation.kind) {
      case "token_request":
        return {
          ...this.#base,
          ...(this.#includeAudience && operation.audience !== undefined
            ? { "m2m.audience": operation.audience }
            : {}),
          "m2m.token.background": operation.background,
        };
      case "discovery":
      case "introspection":
        return this.#base;
      case "jwks_fetch":
        return {};
    }
  }

  #duration(kind: Operation["kind"]): Histogram {
    let histogram = this.#durations[kind];
    if (!histogram) {
      const [name, description] = DURATIONS[kind];
      histogram = this.#meter.createHistogram(name, {
        description,
        unit: "s",
        advice: { explicitBucketBoundaries: REMOTE_BUCKETS },
      });
      this.#durations[kind] = histogram;
    }
    return histogram;
  }
}

const DURATIONS: Record<Operation["kind"], [string, string]> = {
  token_request: [
    "m2m.client.token.request.duration",
    "Token requests (client credentials grant), from the first attempt to the last answer, retries included.",
  ],
  discovery: ["m2m.discovery.duration", "Authorization server metadata discovery, retries included."],
  jwks_fetch: ["m2m.verifier.jwks.fetch.duration", "JWKS fetches of the verifier."],
  introspection: ["m2m.verifier.introspection.duration", "Token introspection requests (RFC 7662)."],
};

function failureAttributes(error: unknown): Attributes {
  const attributes: Attributes = { "error.type": errorType(error) };
  const oauthError = (error as { error?: unknown } | null)?.error;
  if (attributes["error.type"] === "ERR_OAUTH" && typeof oauthError === "string") {
    attributes["m2m.oauth.error"] = OAUTH_ERRORS.has(oauthError) ? oauthError : "_OTHER";
  }
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === "number") attributes["http.response.status_code"] = status;
  return attributes;
}

function audienceOf(event: Event): string {
  return typeof event.audience === "string" ? event.audience : "";
}

/** One time series of an asynchronous counter: incremented in place, read at collection. */
interface Cell {
  value: number;
}

/**
 * The time series of one asynchronous counter of one meter, shared by every client or verifier
 * instrumented on that meter: the SDK takes one observation per attribute set and collection, so
 * instrumented objects with the same attributes add to the same cell. Cells are never removed
 * (counters are monotonic, also after `uninstrument`).
 */
class Cells {
  readonly #cells = new Map<string, { attributes: Attributes; value: number }>();
  readonly observe = (result: ObservableResult): void => {
    for (const cell of this.#cells.values()) result.observe(cell.value, cell.attributes);
  };

  cell(attributes: Attributes): Cell {
    const key = JSON.stringify(Object.entries(attributes).sort(([x], [y]) => (x < y ? -1 : 1)));
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { attributes, value: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }
}

/** Adds one to `cell`, made on first use so that nothing is reported before anything happened. */
function bump(cell: Cell | undefined, cells: Cells, attributes: Attributes): Cell {
  const target = cell ?? cells.cell(attributes);
  target.value++;
  return target;
}

const counterCells = new WeakMap<Meter, Map<string, Cells>>();

function cellsOf(meter: Meter, name: string, description: string, unit: string): Cells {
  let byName = counterCells.get(meter);
  if (byName === undefined) {
    byName = new Map();
    counterCells.set(meter, byName);
  }
  let cells = byName.get(name);
  if (cells === undefined) {
    cells = new Cells();
    meter
      .createObservableCounter(name, { description, unit, valueType: otel().ValueType.INT })
      .addCallback(cells.observe);
    byName.set(name, cells);
  }
  return cells;
}

type VerifyNow = (token: string, options?: unknown) => unknown;

/**
 * Times every verification that checks a signature or fails (`m2m.verifier.verification.duration`,
 * `error.type` = the error's code) by wrapping the verifier's own methods, so a verifier that is not
 * instrumented pays nothing. Answers from the verified-token cache are counted, not timed
 * (`m2m.verifier.cache.hits`, reported at collection): a cached verification costs an addition.
 */
function wrapVerifier(verifier: VerifierLike, meter: Meter, options: InstrumentOptions): () => void {
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
