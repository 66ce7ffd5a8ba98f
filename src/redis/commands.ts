/**
 * One way to send a command to whichever Redis client the user passed: node-redis 4, 5 or 6 (client or
 * cluster, `sendCommand`) or ioredis (`Redis` or `Cluster`, `call`). The user's client keeps its
 * connection, TLS and auth; nothing here connects on its own.
 */

/** Structural shape of the clients accepted (no import of either library). */
export type RedisClientLike =
  | {
      /** node-redis 4, 5 or 6 client or cluster: commands go through `sendCommand`. */
      sendCommand(...args: never[]): Promise<unknown>;
    }
  | {
      /** ioredis `Redis` or `Cluster`: commands go through `call`. */
      call(...args: never[]): Promise<unknown>;
    };

export interface RedisCommands {
  /** Sends `args` (routed by `key` on a cluster). */
  send(key: string, args: string[]): Promise<unknown>;
  /** False when the client knows it is not connected (commands would only queue). */
  ready(): boolean;
}

type Sender = (...args: unknown[]) => Promise<unknown>;

export function toCommands(redis: unknown, option = "redis"): RedisCommands {
  if (typeof redis !== "object" || redis === null) {
    throw new TypeError(`${option} must be a node-redis or ioredis client (or cluster)`);
  }
  const r = redis as Record<string, unknown>;
  if (typeof r.call === "function" && typeof r.status === "string") {
    // ioredis Redis or Cluster: `call` routes by the command's keys.
    const call = (r.call as Sender).bind(redis);
    return {
      send: (_key, [name, ...rest]) => call(name, ...rest),
      ready: () => r.status === "ready",
    };
  }
  if (typeof r.sendCommand === "function") {
    const send = (r.sendCommand as Sender).bind(redis);
    // node-redis cluster: sendCommand(firstKey, isReadonly, args); client: sendCommand(args).
    const cluster = "masters" in r || typeof r.getMasters === "function";
    const ready = () => {
      if (typeof r.isReady === "boolean") return r.isReady;
      if (typeof r.isOpen === "boolean") return r.isOpen;
      return true;
    };
    return cluster
      ? { send: (key, args) => send(key, false, args), ready }
      : { send: (_key, args) => send(args), ready };
  }
  throw new TypeError(`${option} must be a node-redis or ioredis client (or cluster)`);
}

/** A Lua script sent by SHA (EVALSHA), loaded with EVAL the first time a node does not know it. */
export class Script {
  readonly #source: string;
  #sha: Promise<string> | undefined;

  constructor(source: string) {
    this.#source = source;
  }

  async run(commands: RedisCommands, key: string, args: string[]): Promise<unknown> {
    this.#sha ??= crypto.subtle
      .digest("SHA-1", new TextEncoder().encode(this.#source))
      .then((d) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    const sha = await this.#sha;
    try {
      return await commands.send(key, ["EVALSHA", sha, "1", key, ...args]);
    } catch (error) {
      if (!/NOSCRIPT/i.test(String((error as Error)?.message))) throw error;
      return commands.send(key, ["EVAL", this.#source, "1", key, ...args]);
    }
  }
}

export class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
  }
}

/** Races `promise` against `ms`; `onLate` sees the result if it arrives after the timeout. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new RedisTimeout(ms));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) onLate?.(value);
        else resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function toText(value: unknown): string | undefined {
  if (value === null || value === undefined || value === false) return undefined;
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}
