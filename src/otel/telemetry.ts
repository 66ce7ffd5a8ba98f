import type { Attributes, Counter, Histogram, Meter, Span, Tracer } from "@opentelemetry/api";
import type { Operation } from "../lib/instrumentation.js";
import { openTelemetryApi as otel } from "./api.js";
import { bump, type Cell, type Cells, cellsOf } from "./counter-cells.js";
import { errorType } from "./http.js";
import type { InstrumentOptions } from "./options.js";

/** Duration buckets of remote work, in seconds (the semantic conventions' HTTP buckets). */
const REMOTE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

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

export interface ClientLike {
  readonly clientId: string;
  getToken(...args: never[]): unknown;
}

export type Event = { type: string; [field: string]: unknown };

export class Telemetry {
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
