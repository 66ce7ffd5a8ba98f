import type { Clock } from "../../src/index.js";

/** A clock that only moves when told to; `sleep` advances it at once and records the wait. */
export class ManualClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(public time = Date.now()) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    this.time += ms;
    return Promise.resolve();
  }
}
