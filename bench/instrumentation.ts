/**
 * Instrumentation cost (`m2m-kit/otel` with the OpenTelemetry SDK's MeterProvider and tracer
 * provider, as an application sets them up) against the same work uninstrumented, in one run.
 * Imported by bench/verify.ts.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ClientCredentialsClient, type Verifier } from "../dist/index.js";
import { instrument } from "../dist/otel.js";

class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface Telemetry {
  meterProvider: MeterProvider;
  tracerProvider: BasicTracerProvider;
  /** Collects once (as an exporter would), returning the number of data points. */
  collect(): Promise<number>;
}

export function startTelemetry(): Telemetry {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const tracerProvider = new BasicTracerProvider();
  return {
    meterProvider,
    tracerProvider,
    async collect() {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .reduce((n, m) => n + m.dataPoints.length, 0);
    },
  };
}

export function instrumentFor<T extends ClientCredentialsClient | Verifier>(target: T, t: Telemetry): T {
  instrument(target, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
  return target;
}

/** A token endpoint on 127.0.0.1 that answers every request with a fresh one-hour Bearer token. */
export async function serveTokens(): Promise<{ url: string; close: () => void }> {
  let n = 0;
  const server = createServer((_req, res) => {
    n++;
    res
      .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
      .end(JSON.stringify({ access_token: `token-${n}`, token_type: "Bearer", expires_in: 3600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    close: () => server.close(),
  };
}

export function tokenClient(url: string): ClientCredentialsClient {
  return new ClientCredentialsClient({
    tokenEndpoint: url,
    clientId: "bench",
    clientSecret: "bench-secret",
    allowInsecureHttp: true,
  });
}

interface Row {
  scenario: string;
  instrumented: boolean;
  ns: number;
}

/**
 * Each scenario twice, uninstrumented and instrumented (`instrument(target)` on an SDK
 * MeterProvider), measured alternately; the best median of the rounds per variant.
 */
export async function benchInstrumentation(
  fixtures: ReadonlyArray<{ alg: string; tokens: readonly string[] }>,
  options: { issuer: string; audience: string; jwksUri: string; timeMs: number; rounds: number },
): Promise<Row[]> {
  const { measure } = await import("mitata");
  const { createVerifier } = await import("../dist/index.js");
  const telemetry = startTelemetry();
  const verifier = (cache: boolean) =>
    createVerifier({
      issuer: options.issuer,
      audience: options.audience,
      jwksUri: options.jwksUri,
      allowInsecureHttp: true,
      ...(cache ? {} : { verifiedTokenCache: false as const }),
    });
  const off = verifier(true);
  const on = instrumentFor(verifier(true), telemetry);
  // Distinct tokens: every call checks a signature (as with a pool larger than the cache).
  const offUncached = verifier(false);
  const onUncached = instrumentFor(verifier(false), telemetry);
  for (const v of [off, on, offUncached, onUncached]) await v.warmUp();
  const tokens = await serveTokens();
  const plainClient = tokenClient(tokens.url);
  const instrumentedClient = instrumentFor(tokenClient(tokens.url), telemetry);
  await plainClient.getToken();
  await instrumentedClient.getToken();

  const scenarios: Array<[string, () => unknown, () => unknown]> = [];
  const first = fixtures[0];
  if (first) {
    const one = first.tokens[0] as string;
    for (let i = 0; i < 3; i++) {
      await off.verify(one);
      await on.verify(one);
    }
    scenarios.push(["verify, cached token", () => off.verify(one), () => on.verify(one)]);
  }
  scenarios.push([
    "getToken, cached token",
    () => plainClient.getToken(),
    () => instrumentedClient.getToken(),
  ]);
  for (const f of fixtures) {
    const walk = () => {
      let i = 0;
      return () => {
        i = (i + 1) % f.tokens.length;
        return f.tokens[i] as string;
      };
    };
    const a = walk();
    const b = walk();
    scenarios.push([
      `verify, distinct tokens (${f.alg})`,
      () => offUncached.verify(a()),
      () => onUncached.verify(b()),
    ]);
  }

  const rows: Row[] = [];
  for (const [scenario, plain, instrumented] of scenarios) {
    const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) {
        const stats = await measure(k === 0 ? plain : instrumented, { min_cpu_time: options.timeMs * 1e6 });
        best[k] = Math.min(best[k] as number, stats.p50);
      }
    }
    rows.push({ scenario, instrumented: false, ns: best[0] as number });
    rows.push({ scenario, instrumented: true, ns: best[1] as number });
    process.stdout.write(`  instrumentation, ${scenario}: done\n`);
  }
  // What was recorded is real: one collection, as an exporter would make.
  process.stdout.write(`  instrumentation: ${await telemetry.collect()} data points collected\n`);
  tokens.close();
  await plainClient.close();
  await instrumentedClient.close();
  return rows;
}

export function printInstrumentation(rows: Row[]): void {
  process.stdout.write(
    "\n### Instrumentation (m2m-kit/otel on vs off, same run)\n\n" +
      "| scenario | off µs/call | on µs/call | on − off | on ÷ off | budget |\n|---|---:|---:|---:|---:|---|\n",
  );
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const off = rows.find((r) => r.scenario === scenario && !r.instrumented)?.ns ?? Number.NaN;
    const on = rows.find((r) => r.scenario === scenario && r.instrumented)?.ns ?? Number.NaN;
    const distinct = scenario.includes("distinct");
    const within = distinct ? on / off <= 1.05 : on - off <= 500;
    process.stdout.write(
      `| ${scenario} | ${(off / 1000).toFixed(3)} | ${(on / 1000).toFixed(3)} | ${((on - off) / 1000).toFixed(3)} µs | ${(on / off).toFixed(3)} | ${distinct ? "≤ 1.05×" : "≤ +0.5 µs"} ${within ? "✓" : "✗"} |\n`,
    );
  }
}
