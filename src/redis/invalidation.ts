/**
 * Fleet-wide invalidation for the Redis token store: a Redis pub/sub channel on a connection
 * duplicated from the user's client (it keeps the user's host, TLS, auth and reconnection settings),
 * so that every live process drops its in-process copy (L1) of an invalidated token at once.
 *
 * A subscription loses the messages published while it is down (Redis pub/sub has no backlog), so
 * the store needs to know when it was last known to be up: `liveSince`. For a single client that is
 * the moment its subscription was (re)confirmed after a `ready`; any `error`, `reconnecting`, `close`
 * or `end` clears it at once. For a Cluster client the library does not say when its subscriber
 * connection drops, so `liveSince` stays unset and the store falls back to re-reading L1 entries
 * older than a second (the rule for a subscription that is down).
 */

type Listener = (...args: unknown[]) => void;

interface Emitter {
  on(event: string, listener: Listener): unknown;
  removeListener?(event: string, listener: Listener): unknown;
  off?(event: string, listener: Listener): unknown;
}

type Any = Record<string, unknown> & Emitter;

/** What the channel tells the store. */
export interface InvalidationEvents {
  /** Names of invalidated entries, as published. */
  message(names: string[]): void;
  /** The subscription went down (`up: false`) or was confirmed again (`up: true`). */
  state(up: boolean, reason: string): void;
}

const MESSAGE_PREFIX = "v1 ";

/** The message that names the invalidated entries (hashed names, never a key or a token). */
export function invalidationMessage(names: readonly string[]): string {
  return `${MESSAGE_PREFIX}${names.join(" ")}`;
}

function parseMessage(message: unknown): string[] | undefined {
  const text =
    typeof message === "string"
      ? message
      : message instanceof Uint8Array
        ? new TextDecoder().decode(message)
        : undefined;
  if (text === undefined || !text.startsWith(MESSAGE_PREFIX)) return undefined;
  return text.slice(MESSAGE_PREFIX.length).split(" ").filter(Boolean);
}

function kindOf(redis: Any): "node-redis" | "node-redis-cluster" | "ioredis" | "ioredis-cluster" | undefined {
  if (typeof redis.duplicate !== "function" || typeof redis.on !== "function") return undefined;
  if (typeof redis.call === "function" && typeof redis.status === "string") {
    return redis.isCluster === true ? "ioredis-cluster" : "ioredis";
  }
  if (typeof redis.sendCommand === "function") {
    return "masters" in redis || typeof redis.getMasters === "function" ? "node-redis-cluster" : "node-redis";
  }
  return undefined;
}

function off(emitter: Emitter, event: string, listener: Listener): void {
  if (typeof emitter.removeListener === "function") emitter.removeListener(event, listener);
  else emitter.off?.(event, listener);
}

/**
 * The closings each user client has to announce, by event: one listener per client and event, however
 * many stores share the client (a listener per store would pass the emitter's limit of 10 and warn).
 */
const closings = new WeakMap<object, Map<string, { listeners: Set<() => void>; shared: Listener }>>();

/** Calls `onEnd` when `client` emits `event`; returns how to stop. */
function onClientEvent(client: Any, event: string, onEnd: () => void): () => void {
  let byEvent = closings.get(client);
  if (byEvent === undefined) {
    byEvent = new Map();
    closings.set(client, byEvent);
  }
  let entry = byEvent.get(event);
  if (entry === undefined) {
    const listeners = new Set<() => void>();
    const shared = () => {
      for (const listener of [...listeners]) listener();
    };
    client.on(event, shared);
    entry = { listeners, shared };
    byEvent.set(event, entry);
  }
  const own = entry;
  own.listeners.add(onEnd);
  return () => {
    own.listeners.delete(onEnd);
    if (own.listeners.size > 0 || byEvent.get(event) !== own) return;
    byEvent.delete(event);
    off(client, event, own.shared);
  };
}

/** One subscription per store, started on first use and closed with the store. */
export class InvalidationChannel {
  /** When the subscription was last confirmed up (ms since the epoch); `undefined` while it may be down. */
  liveSince: number | undefined;
  readonly #redis: Any;
  readonly #channel: string;
  readonly #events: InvalidationEvents;
  #subscriber: Any | undefined;
  #started = false;
  #closed = false;
  /** Bumped whenever the subscription may have gone down: a confirmation begun before is stale. */
  #epoch = 0;
  #up = false;
  #reportedDown = false;
  readonly #cleanup: Array<() => void> = [];

  constructor(redis: unknown, channel: string, events: InvalidationEvents) {
    this.#redis = redis as Any;
    this.#channel = channel;
    this.#events = events;
  }

  /** Subscribes (once). Never throws: a failure leaves the channel down. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const kind = kindOf(this.#redis);
    if (kind === undefined) {
      this.#down("the Redis client cannot be duplicated for a subscription");
      return;
    }
    // The user's client closing (quit, disconnect) closes the subscription with it.
    const onEnd = () => void this.close();
    for (const event of ["end", kind === "node-redis-cluster" ? "disconnect" : undefined]) {
      if (event === undefined) continue;
      this.#cleanup.push(onClientEvent(this.#redis, event, onEnd));
    }
    try {
      this.#subscribe(kind).catch((error: unknown) => this.#down(reason(error)));
    } catch (error) {
      this.#down(reason(error));
    }
  }

  /** Unsubscribes and closes the duplicated connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoch++;
    this.liveSince = undefined;
    for (const cleanup of this.#cleanup.splice(0)) cleanup();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber) await destroy(subscriber);
  }

  async #subscribe(kind: NonNullable<ReturnType<typeof kindOf>>): Promise<void> {
    const subscriber = (this.#redis.duplicate as () => Any)();
    this.#subscriber = subscriber;
    const on = (event: string, listener: Listener) => {
      subscriber.on(event, listener);
    };
    // An 'error' listener is required: an EventEmitter without one throws.
    on("error", (error) => this.#down(reason(error)));
    const deliver = (message: unknown) => {
      const names = parseMessage(message);
      if (names) this.#events.message(names);
    };
    const single = kind === "node-redis" || kind === "ioredis";
    if (single) {
      for (const event of ["reconnecting", "close", "end"])
        on(event, () => this.#down(`connection ${event}`));
      // After a reconnect: node-redis has subscribed again before 'ready', ioredis after it. Our own
      // SUBSCRIBE on the same connection is answered after either, so its answer confirms both.
      on("ready", () => void this.#confirm(kind, subscriber, deliver));
    }
    if (kind === "ioredis" || kind === "ioredis-cluster") {
      on("message", (channel, message) => {
        if (channel === this.#channel) deliver(message);
      });
    }
    if (kind === "node-redis") {
      // Not kept alive by this connection: a process whose own client has closed exits.
      (subscriber.unref as (() => void) | undefined)?.call(subscriber);
    }
    if (kind === "ioredis") {
      on("connect", () => (subscriber.stream as { unref?: () => void } | undefined)?.unref?.());
    }
    if (kind === "node-redis" || kind === "node-redis-cluster") {
      await (subscriber.connect as () => Promise<unknown>)();
      if (kind === "node-redis-cluster") {
        await (subscriber.subscribe as (c: string, l: Listener) => Promise<unknown>)(this.#channel, deliver);
      }
      // A single client: 'ready' (during connect) subscribed.
    } else if (kind === "ioredis") {
      if (subscriber.status === "wait") await (subscriber.connect as () => Promise<unknown>)();
      // 'ready' subscribes.
    } else {
      await (subscriber.subscribe as (c: string) => Promise<unknown>)(this.#channel);
    }
    // Closed while connecting: close() has already let go of it.
    if (this.#closed) await destroy(subscriber);
  }

  async #confirm(kind: "node-redis" | "ioredis", subscriber: Any, deliver: Listener): Promise<void> {
    const epoch = ++this.#epoch;
    try {
      if (kind === "node-redis") {
        await (subscriber.subscribe as (c: string, l: Listener) => Promise<unknown>)(this.#channel, deliver);
      } else {
        await (subscriber.subscribe as (c: string) => Promise<unknown>)(this.#channel);
      }
    } catch (error) {
      this.#down(reason(error));
      return;
    }
    if (epoch !== this.#epoch || this.#closed) return;
    this.liveSince = Date.now();
    if (!this.#up) {
      this.#up = true;
      this.#events.state(true, "subscribed");
    }
  }

  /** Reported once when it never came up, then once per fall after each time it was up. */
  #down(why: string): void {
    this.#epoch++;
    this.liveSince = undefined;
    if (this.#closed) return;
    if (this.#up || !this.#reportedDown) {
      this.#up = false;
      this.#reportedDown = true;
      this.#events.state(false, why);
    }
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Closes a duplicated connection at once (node-redis 5 `destroy`, node-redis 4 and ioredis `disconnect`). */
async function destroy(subscriber: Any): Promise<void> {
  try {
    if (typeof subscriber.destroy === "function") (subscriber.destroy as () => void)();
    else if (typeof subscriber.disconnect === "function") await (subscriber.disconnect as () => unknown)();
  } catch {
    // Already closed.
  }
}
