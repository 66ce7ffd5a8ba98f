import { requestScopedIo } from "../lib/runtime.js";

/** One shared request: the controller is made when the request starts and belongs to it alone. */
interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Waiters that can still abandon it (each with a signal). */
  waiters: number;
  /** Never cancelled for lack of waiters: a background refresh, or a waiter without a signal. */
  keepAlive: boolean;
}

/** Why a request every waiter abandoned was cancelled. */
export class Abandoned extends Error {
  constructor() {
    super("every caller abandoned the request");
  }
}

/**
 * One request in flight per cache key: concurrent callers share it, also after a failure (the entry
 * goes when the request settles, so the next caller starts a new one). A caller's `signal` abandons
 * that caller's wait only; when every waiter has abandoned a request (and it is not a background
 * refresh), the request itself is aborted, which closes its connection. Where a request may not wait
 * on another request's I/O (Workers), each caller starts its own.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Flight<T>>();
  /** Every request still running, also those `clear` forgot, so that `abortAll` reaches them. */
  readonly #running = new Set<AbortController>();
  readonly #shared: boolean;

  constructor(shared = !requestScopedIo) {
    this.#shared = shared;
  }

  has(key: string): boolean {
    return this.#inflight.has(key);
  }

  /** Requests in flight. */
  get size(): number {
    return this.#inflight.size;
  }

  /**
   * Joins the request in flight for `key`, or starts one with `start`, which gets the request's own
   * abort signal. `background`: nobody waits for it, it is never cancelled for lack of waiters.
   */
  run(
    key: string,
    start: (signal: AbortSignal) => Promise<T>,
    options: { signal?: AbortSignal | undefined; background?: boolean } = {},
  ): Promise<T> {
    const { signal, background = false } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let flight = this.#shared ? this.#inflight.get(key) : undefined;
    if (!flight) {
      const controller = new AbortController();
      const started: Flight<T> = { promise: undefined as never, controller, waiters: 0, keepAlive: false };
      this.#running.add(controller);
      started.promise = start(controller.signal).finally(() => {
        this.#running.delete(controller);
        if (this.#inflight.get(key) === started) this.#inflight.delete(key);
      });
      // Waiters may all have abandoned the request; its failure must not go unhandled.
      started.promise.catch(() => {});
      if (this.#shared) this.#inflight.set(key, started);
      flight = started;
    }
    if (background || !signal) {
      flight.keepAlive = true;
      return flight.promise;
    }
    return this.#wait(key, flight, signal);
  }

  #wait(key: string, flight: Flight<T>, signal: AbortSignal): Promise<T> {
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        flight.waiters--;
        if (flight.waiters === 0 && !flight.keepAlive) {
          if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
          flight.controller.abort(new Abandoned());
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  /** Forgets every request in flight: later callers start new ones; the old ones finish unseen. */
  clear(): void {
    this.#inflight.clear();
  }

  /** Aborts every request in flight with `reason` (the client closing). */
  abortAll(reason: unknown): void {
    for (const controller of this.#running) {
      try {
        controller.abort(reason);
      } catch {
        // Another request's controller on a request-scoped runtime: that request ends on its own.
      }
    }
    this.#running.clear();
    this.#inflight.clear();
  }
}
