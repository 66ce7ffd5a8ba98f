/**
 * `@opentelemetry/api`, m2m-kit/otel's optional peer, loaded with the entry point rather than imported
 * statically: without it, importing m2m-kit/otel still works and {@link openTelemetryApi} (called by
 * `instrument`) throws a {@link MissingPeerDependencyError} that says what to install.
 */
import type * as OpenTelemetryApi from "@opentelemetry/api";
import { MissingPeerDependencyError } from "../errors.js";
import { loaded } from "./load-api.js";

/** The `@opentelemetry/api` module, or why it could not be loaded. */
export type Loaded = typeof OpenTelemetryApi | { failure: unknown };

/** The loaded `@opentelemetry/api`; throws {@link MissingPeerDependencyError} when it is not installed. */
export function openTelemetryApi(): typeof OpenTelemetryApi {
  if ("failure" in loaded) {
    throw new MissingPeerDependencyError("@opentelemetry/api", "m2m-kit/otel", { cause: loaded.failure });
  }
  return loaded;
}
