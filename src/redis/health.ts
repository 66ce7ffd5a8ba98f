import type { RedisCommands } from "./commands.js";
import type { RedisStoreEvent } from "./token-store-options.js";

/**
 * Whether Redis answers: after a failure, commands are skipped for `retryAfterMs` (the store works from
 * its in-process cache), `store_unavailable` is reported once, and `store_recovered` when a command
 * succeeds again.
 */
export class RedisHealth {
  #downSince: number | undefined;
  #skipUntil = 0;

  constructor(
    private readonly redis: RedisCommands,
    private readonly retryAfterMs: number,
    private readonly emit: (event: RedisStoreEvent) => void,
  ) {}

  /** True while Redis is considered unreachable. */
  get unavailable(): boolean {
    return this.#downSince !== undefined;
  }

  /** False while commands are skipped, or when the client knows it is not connected. */
  available(): boolean {
    if (Date.now() < this.#skipUntil) return false;
    if (!this.redis.ready()) {
      this.failed("connect", new Error("the Redis client is not connected"));
      return false;
    }
    return true;
  }

  /** Runs `operation` unless Redis is known to be down; failures are recorded, never thrown. */
  async attempt<T>(name: string, operation: () => Promise<T>): Promise<T | undefined> {
    if (!this.available()) return undefined;
    try {
      const result = await operation();
      this.succeeded();
      return result;
    } catch (error) {
      this.failed(name, error);
      return undefined;
    }
  }

  failed(operation: string, error: unknown): void {
    this.#skipUntil = Date.now() + this.retryAfterMs;
    if (this.#downSince !== undefined) return;
    this.#downSince = Date.now();
    this.emit({
      type: "store_unavailable",
      operation,
      reason: error instanceof Error ? error.message : String(error),
    });
  }

  succeeded(): void {
    if (this.#downSince === undefined) return;
    const unavailableMs = Date.now() - this.#downSince;
    this.#downSince = undefined;
    this.emit({ type: "store_recovered", unavailableMs });
  }
}
