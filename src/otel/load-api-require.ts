/** The CommonJS build's load-api.ts: `@opentelemetry/api` through `require`, a failure kept. */
import type { Loaded } from "./api.js";

declare const require: (id: string) => unknown;

function load(): Loaded {
  try {
    return require("@opentelemetry/api") as Loaded;
  } catch (failure) {
    return { failure };
  }
}

export const loaded: Loaded = load();
