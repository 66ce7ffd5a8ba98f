/**
 * Loads `@opentelemetry/api` (the optional peer) when m2m-kit/otel is loaded, keeping a failure for
 * {@link openTelemetryApi} to report instead of failing the import. The CommonJS build loads it with
 * `require` instead (load-api-require.ts, swapped in by tsup.config.ts): CommonJS has no top-level
 * await.
 */
import type { Loaded } from "./api.js";

export const loaded: Loaded = await import("@opentelemetry/api").catch((failure: unknown) => ({ failure }));
