import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import type { OptionNames } from "../lib/option-names.js";

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
export const INSTRUMENT_OPTION_NAMES: OptionNames<InstrumentOptions> = {
  meterProvider: true,
  tracerProvider: true,
  includeAudience: true,
  includeClientId: true,
  traceHttp: true,
};
