/**
 * The OpenTelemetry SDK as a user sets it up, with in-memory ends: a metric reader collected on
 * demand and an in-memory span exporter. `register()` installs the AsyncLocalStorage context
 * manager and the W3C propagators, as the Node SDK does.
 */
import { type Attributes, type HrTime, trace } from "@opentelemetry/api";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-node";

class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface Telemetry {
  meterProvider: MeterProvider;
  tracerProvider: NodeTracerProvider;
  spans(): ReadableSpan[];
  /** Every data point of the named metric. */
  points(name: string): Promise<Array<DataPoint<number | Histogram>>>;
  /** Everything recorded, as text (for "never contains" checks). */
  dump(): Promise<string>;
  reset(): void;
  close(): Promise<void>;
}

let registered: NodeTracerProvider | undefined;

export function startTelemetry(): Telemetry {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  if (!registered) {
    tracerProvider.register();
    registered = tracerProvider;
  }
  const collect = async (): Promise<ResourceMetrics> => (await reader.collect()).resourceMetrics;
  return {
    meterProvider,
    tracerProvider,
    spans: () => exporter.getFinishedSpans(),
    async points(name) {
      const { scopeMetrics } = await collect();
      return scopeMetrics
        .flatMap((s) => s.metrics)
        .filter((m) => m.descriptor.name === name)
        .flatMap((m) => m.dataPoints as Array<DataPoint<number | Histogram>>);
    },
    async dump() {
      const metrics = await collect();
      const spans = exporter.getFinishedSpans().map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
      }));
      return JSON.stringify({ metrics: metrics.scopeMetrics, spans });
    },
    reset: () => exporter.reset(),
    close: async () => {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

/** Histogram count of the data points whose attributes include `match`. */
export function countOf(points: Array<DataPoint<number | Histogram>>, match: Attributes = {}): number {
  return points
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (typeof p.value === "number" ? p.value : p.value.count), 0);
}

export const tracer = () => trace.getTracer("test");

export const ms = (t: HrTime) => t[0] * 1000 + t[1] / 1e6;
