import type { Attributes, Histogram, TextMapSetter, Tracer } from "@opentelemetry/api";
import type { FetchLike } from "../lib/http.js";
import { openTelemetryApi as otel } from "./api.js";

/** Methods kept as they are in `http.request.method`; anything else is `_OTHER` (semantic conventions). */
const KNOWN_METHODS = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE",
]);

const headerSetter: TextMapSetter<Headers> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

/** `url.full` without credentials, and with every query value replaced by `REDACTED`. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  copy.hash = "";
  for (const name of new Set(copy.searchParams.keys())) copy.searchParams.set(name, "REDACTED");
  return copy.href;
}

/** Low-cardinality name of a failure: the error's name, or `_OTHER`. */
export function errorType(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_")) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === "string" && name !== "Error" && name !== "") return name;
    const ctor = (error as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === "string" && ctor !== "") return ctor;
  }
  return "_OTHER";
}

/**
 * A `fetch` that makes an HTTP client span per request (child of the active context), records
 * `http.client.request.duration`, and sends the active trace context (`traceparent`) unless the
 * request already carries one. Span and duration end when the response headers arrive.
 */
export function tracedFetch(fetch: FetchLike, tracer: Tracer, duration: Histogram): FetchLike {
  const { context, propagation, SpanKind, SpanStatusCode, trace } = otel();
  return function tracedFetch(input, init) {
    const request = input instanceof Request ? input : undefined;
    const rawMethod = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const method = KNOWN_METHODS.has(rawMethod) ? rawMethod : "_OTHER";
    let url: URL;
    try {
      url = new URL(request ? request.url : String(input));
    } catch {
      return fetch(input, init);
    }
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    const metricAttributes: Attributes = {
      "http.request.method": method,
      "server.address": url.hostname,
      "server.port": port,
    };
    const parent = context.active();
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          ...metricAttributes,
          ...(method === "_OTHER" ? { "http.request.method_original": rawMethod } : {}),
          "url.full": redactUrl(url),
        },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    const headers = new Headers(init?.headers ?? request?.headers);
    if (!headers.has("traceparent")) {
      propagation.inject(active, headers, headerSetter);
      if (!headers.has("traceparent")) {
        // No propagator registered: W3C Trace Context, OpenTelemetry's default format.
        const sc = span.spanContext();
        if (trace.isSpanContextValid(sc)) {
          const flags = (sc.traceFlags & 1).toString(16).padStart(2, "0");
          headers.set("traceparent", `00-${sc.traceId}-${sc.spanId}-${flags}`);
        }
      }
    }
    const started = performance.now();
    const finish = (attributes: Attributes) => {
      duration.record((performance.now() - started) / 1000, { ...metricAttributes, ...attributes });
      span.end();
    };
    return context
      .with(active, () => fetch(input, { ...init, headers }))
      .then(
        (response) => {
          const attributes: Attributes = { "http.response.status_code": response.status };
          if (response.status >= 400) {
            attributes["error.type"] = String(response.status);
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.setAttributes(attributes);
          finish(attributes);
          return response;
        },
        (error: unknown) => {
          const type = errorType(error);
          span.setAttribute("error.type", type);
          span.setStatus({ code: SpanStatusCode.ERROR, message: type });
          finish({ "error.type": type });
          throw error;
        },
      );
  };
}
