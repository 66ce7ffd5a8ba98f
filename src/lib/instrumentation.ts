import type { FetchLike } from "./http.js";
import { TRANSPORT_INFO } from "./transport.js";

/**
 * The key under which a client or verifier accepts an instrumentation (`m2m-kit/otel` attaches
 * through it). A registered symbol, so two copies of the package in one process still meet.
 */
export const instrumentationHook: unique symbol = Symbol.for("m2m-kit.instrumentation");

/** One logical piece of remote work, run through {@link Instrumentation.run}. */
export type Operation =
  | { kind: "token_request"; audience: string | undefined; scope: readonly string[]; background: boolean }
  | { kind: "discovery"; issuer: string }
  | { kind: "jwks_fetch"; uri: string }
  | { kind: "introspection" };

/** Runs `work` as `operation` (see {@link Instrumentation.run}). */
export type RunOperation = <T>(operation: Operation, work: () => Promise<T>) => Promise<T>;

/** What an instrumentation may provide; every member is optional. */
export interface Instrumentation<Event> {
  /** Receives every event, after the `onEvent` of the options. */
  onEvent?(event: Event): void;
  /** Wraps the transport: every outgoing request goes through the returned function. */
  wrapFetch?(fetch: FetchLike): FetchLike;
  /** Runs one operation (its requests, retries and events happen inside `work`). */
  run?<T>(operation: Operation, work: () => Promise<T>): Promise<T>;
}

/** A client or verifier that accepts instrumentations; returns the function that detaches it. */
export interface Instrumentable<Event> {
  [instrumentationHook](instrumentation: Instrumentation<Event>): () => void;
}

/**
 * The attached instrumentations of one client or verifier, combined so that the uninstrumented
 * path stays a single `undefined` check: `listener` and `runner` are `undefined` when nothing needs them.
 */
export class Instrumentations<Event> {
  listener: ((event: Event) => void) | undefined;
  runner: (<T>(operation: Operation, work: () => Promise<T>) => Promise<T>) | undefined;
  fetch: FetchLike;
  /** Calls the current `fetch`; for parts made before an instrumentation is attached. */
  readonly dispatch: FetchLike;
  /** Calls the current listener; for parts made before an instrumentation is attached. */
  readonly emit: (event: Event) => void;
  readonly #own: ((event: Event) => void) | undefined;
  readonly #baseFetch: FetchLike;
  #attached: Instrumentation<Event>[] = [];

  constructor(onEvent: ((event: Event) => void) | undefined, fetch: FetchLike) {
    this.#own = onEvent;
    this.#baseFetch = fetch;
    this.listener = onEvent;
    this.fetch = fetch;
    this.dispatch = (input, init) => this.fetch(input, init);
    this.emit = (event) => this.listener?.(event);
    keepTransportInfo(fetch, this.dispatch);
  }

  attach(instrumentation: Instrumentation<Event>): () => void {
    this.#attached = [...this.#attached, instrumentation];
    this.#combine();
    return () => {
      this.#attached = this.#attached.filter((i) => i !== instrumentation);
      this.#combine();
    };
  }

  /** Runs `work` as `operation` through every attached runner (outermost first). */
  run<T>(operation: Operation, work: () => Promise<T>): Promise<T> {
    return this.runner ? this.runner(operation, work) : work();
  }

  #combine(): void {
    const listeners = this.#attached.flatMap((i) => (i.onEvent ? [i.onEvent.bind(i)] : []));
    if (this.#own) listeners.unshift(this.#own);
    this.listener =
      listeners.length === 0
        ? undefined
        : listeners.length === 1
          ? listeners[0]
          : (event) => {
              for (const listener of listeners) {
                try {
                  listener(event);
                } catch {
                  // One failing listener must not keep the event from the others.
                }
              }
            };
    this.fetch = this.#attached.reduce((f, i) => (i.wrapFetch ? i.wrapFetch(f) : f), this.#baseFetch);
    if (this.fetch !== this.#baseFetch) keepTransportInfo(this.#baseFetch, this.fetch);
    const runners = this.#attached.flatMap((i) => (i.run ? [i.run.bind(i)] : []));
    this.runner =
      runners.length === 0
        ? undefined
        : <T>(operation: Operation, work: () => Promise<T>): Promise<T> =>
            runners.reduceRight<() => Promise<T>>((inner, r) => () => r(operation, inner), work)();
  }
}

/** A wrapped transport still says what it presents (a client certificate). */
function keepTransportInfo(from: FetchLike, to: FetchLike): void {
  const info = (from as { [TRANSPORT_INFO]?: unknown })[TRANSPORT_INFO];
  if (info !== undefined) Object.defineProperty(to, TRANSPORT_INFO, { value: info, configurable: true });
}
