import type { ClientEvent } from "../client/events.js";
import type { RedisStoreEvent } from "../redis/token-store-options.js";
import type { VerifierEvent } from "../verify/events.js";
import { checkOptionNames, closestName, isFreeFormMap, type OptionNames } from "./option-names.js";

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Anything with level methods: pino, winston, bunyan, `console`. */
export type EventLogger = { [level in LogLevel]?: (...args: never[]) => unknown };

/** Options of {@link logEvents}. */
export interface LogEventsOptions {
  /**
   * How a line is passed: `"fields-first"` calls `logger.info(fields, message)` as pino and bunyan
   * expect; `"message-first"` calls `logger.info(message, fields)` as `console` and winston do.
   * Default `"message-first"`.
   */
  style?: "fields-first" | "message-first";
  /** Lowest level written. Default `"info"` (cache hits, at `debug`, are left out). */
  level?: LogLevel;
  /**
   * Level per event type, or `"off"`; overrides the defaults listed in docs/observability.md ("Logs"). A type m2m-kit
   * does not emit, or a value that is not a level, is a `TypeError` (a misspelt level must not turn
   * an event's logs off).
   */
  levels?: Record<string, LogLevel | "off">;
}

/** The names of {@link LogEventsOptions} (`levels` is a map of event types, checked on its own). */
export const LOG_EVENTS_OPTION_NAMES: OptionNames<LogEventsOptions> = {
  style: true,
  level: true,
  levels: true,
};

/**
 * Every event type of the client, the verifier, the adapters and the stores (`FileTokenStore`'s
 * `store_refused` besides those of the Redis store): the names `levels` may use. A type added to one
 * of the event unions must be added here (the compiler says so).
 */
const EVENT_TYPES: Record<
  ClientEvent["type"] | VerifierEvent["type"] | RedisStoreEvent["type"] | "store_refused",
  true
> = {
  cache_hit: true,
  cache_miss: true,
  discovery: true,
  lease_unavailable: true,
  lease_wait: true,
  refresh_failed: true,
  refresh_started: true,
  retry: true,
  store_failed: true,
  stored_token_refused: true,
  token_failed: true,
  token_fetched: true,
  unauthorized: true,
  introspection_answered: true,
  introspection_failed: true,
  jwks_cooldown: true,
  jwks_failed: true,
  jwks_fetched: true,
  jwks_stale: true,
  store_hit: true,
  store_entry_refused: true,
  request_refused: true,
  response_failed: true,
  verification_failed: true,
  entry_refused: true,
  invalidation_channel_down: true,
  invalidation_channel_up: true,
  store_recovered: true,
  store_unavailable: true,
  store_refused: true,
};

/** `levels`: a plain object of known event types, each a level or `"off"`. */
function checkLevels(levels: unknown): Record<string, LogLevel | "off"> {
  if (levels === undefined) return {};
  if (!isFreeFormMap(levels)) throw new TypeError("levels must be a plain object of event types");
  for (const [type, value] of Object.entries(levels)) {
    if (!Object.hasOwn(EVENT_TYPES, type)) {
      const meant = closestName(type, Object.keys(EVENT_TYPES));
      throw new TypeError(
        `levels.${type} is not an event of m2m-kit${meant === undefined ? "" : `; did you mean levels.${meant}?`}`,
      );
    }
    if (value !== "off" && !LEVELS.includes(value as LogLevel)) {
      throw new TypeError(`levels.${type} must be one of debug, info, warn, error, off`);
    }
  }
  return levels as Record<string, LogLevel | "off">;
}

/** Default level of each event type of the client and the verifier; other types are `info`. */
export const DEFAULT_EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  cache_hit: "debug",
  cache_miss: "debug",
  refresh_started: "debug",
  token_fetched: "info",
  discovery: "info",
  retry: "warn",
  refresh_failed: "warn",
  token_failed: "error",
  stored_token_refused: "warn",
  store_hit: "debug",
  store_failed: "warn",
  store_entry_refused: "warn",
};

/**
 * Turns the events of a client or verifier into log lines with levels, for the `onEvent` option.
 * Fields are the event's own (they never hold a token, secret or assertion); an `error` becomes
 * `{ name, code, message }`. A logger without `debug`/`info`/`warn`/`error` methods writes nothing at
 * that level; a bad `style` or `level`, and in `levels` an unknown event type or a value that is not
 * a level, is a `TypeError`.
 *
 * @typeParam Event - {@link ClientEvent}, {@link VerifierEvent} or `RedisStoreEvent`.
 * @example
 * ```ts
 * import pino from "pino";
 * const client = new ClientCredentialsClient({
 *   issuer, clientId, clientSecret,
 *   onEvent: logEvents(pino(), { style: "fields-first" }),
 * });
 * const verifier = createVerifier({ issuer, audience, onEvent: logEvents(console) });
 * ```
 */
export function logEvents<
  Event extends {
    /** The event's name, e.g. `token_fetched`; the log message is `m2m-kit <type>`. */
    type: string;
  },
>(logger: EventLogger, options: LogEventsOptions = {}): (event: Event) => void {
  if (typeof logger !== "object" && typeof logger !== "function") {
    throw new TypeError("logEvents needs a logger with debug/info/warn/error methods");
  }
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [LOG_EVENTS_OPTION_NAMES], "logEvents()");
  const style = options.style ?? "message-first";
  if (style !== "fields-first" && style !== "message-first") {
    throw new TypeError('style must be "fields-first" or "message-first"');
  }
  const minimum = LEVELS.indexOf(options.level ?? "info");
  if (minimum < 0) throw new TypeError("level must be one of debug, info, warn, error");
  const levels: Record<string, LogLevel | "off"> = {
    ...DEFAULT_EVENT_LEVELS,
    ...checkLevels(options.levels),
  };
  const enabled = (level: LogLevel | "off") => level !== "off" && LEVELS.indexOf(level) >= minimum;
  return (event) => {
    const level = levels[event.type] ?? "info";
    if (!enabled(level)) return;
    const write = logger[level as LogLevel] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof write !== "function") return;
    const fields: Record<string, unknown> = { event: event.type };
    for (const [name, value] of Object.entries(event) as [string, unknown][]) {
      if (name === "type") continue;
      fields[name] = value instanceof Error ? describeError(value) : value;
    }
    const message = `m2m-kit ${event.type}`;
    if (style === "fields-first") write.call(logger, fields, message);
    else write.call(logger, message, fields);
  };
}

function describeError(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { name: error.name, ...(typeof code === "string" ? { code } : {}), message: error.message };
}
