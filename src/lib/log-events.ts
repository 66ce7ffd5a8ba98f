import { checkOptionNames, type OptionNames } from "./option-names.js";

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
  /** Level per event type, or `"off"`; overrides the defaults listed in the README. */
  levels?: Record<string, LogLevel | "off">;
}

/** The names of {@link LogEventsOptions} (`levels` is a map of event types, not checked). */
export const LOG_EVENTS_OPTION_NAMES: OptionNames<LogEventsOptions> = {
  style: true,
  level: true,
  levels: true,
};

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
 * that level; a bad `style` or `level` is a `TypeError`.
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
  const levels: Record<string, LogLevel | "off"> = { ...DEFAULT_EVENT_LEVELS, ...options.levels };
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
