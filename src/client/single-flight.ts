import { requestScopedIo } from "../lib/runtime.js";

/**
 * One request in flight per cache key: concurrent callers share it, also after a failure (the entry
 * goes when the request settles, so the next caller starts a new one). Where a request may not wait
 * on another request's I/O (Workers), each caller starts its own.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>();
  readonly #shared: boolean;

  constructor(shared = !requestScopedIo) {
    this.#shared = shared;
  }

  has(key: string): boolean {
    return this.#inflight.has(key);
  }

  /** Joins the request in flight for `key`, or starts one with `start`. */
  run(key: string, start: () => Promise<T>): Promise<T> {
    if (!this.#shared) return start();
    let promise = this.#inflight.get(key);
    if (!promise) {
      const started = start().finally(() => {
        if (this.#inflight.get(key) === started) this.#inflight.delete(key);
      });
      promise = started;
      this.#inflight.set(key, promise);
      // Waiters may all have abandoned the request; its failure must not go unhandled.
      promise.catch(() => {});
    }
    return promise;
  }

  /** Forgets every request in flight: later callers start new ones. */
  clear(): void {
    this.#inflight.clear();
  }
}
