import { readFileSync } from "node:fs";

/**
 * What every command of the `m2m` CLI shares: its exit codes, the I/O it writes to, the shape of a
 * command and of its option rows, and the usage error.
 *
 * Options are rows of a table per command: a row gives the parser its type, the help its line, and
 * says whether the value is secret (a secret option's value is never echoed, whatever goes wrong).
 */

/** 0 success; 1 the operation failed (token refused, token invalid, server unreachable); 2 usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  stdin: () => Promise<string>;
  color: boolean;
}

/** A mistake on the command line or in the configuration: exit 2, the message without a stack. */
export class UsageError extends Error {}

/** One command-line option. */
export interface OptionRow {
  /** Long name without the dashes. */
  name: string;
  type: "string" | "boolean";
  /** Placeholder shown in the help (`URL`, `FILE`, …); string options only. */
  value?: string;
  help: string;
  default?: string;
  /** The value is, or may be mistaken for, a secret: never shown in any message. */
  secret?: boolean;
  /** A string option whose value may be left out (`--cache` or `--cache DIR`): then it is "". */
  optionalValue?: boolean;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Hooks {
  onStarted?: (close: () => Promise<void>) => void;
}

export interface Command {
  usage: string;
  summary: string;
  description: string;
  options: OptionRow[];
  positionals?: boolean;
  run: (values: Values, positionals: string[], io: Io, hooks: Hooks) => Promise<number>;
}

export function str(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function paint(io: Io, code: number, text: string): string {
  return io.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** The library's hints name its options; on the command line they are flags. */
export function cliMessage(message: string): string {
  return message.replace(/set allowInsecureHttp: true/g, "pass --allow-insecure-http");
}

export function readSecretFile(path: string, option: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    // The path is not echoed: a secret passed by mistake in its place would land in CI logs.
    throw new UsageError(
      `${option}: the file cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}
