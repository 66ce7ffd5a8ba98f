import { type ParseArgsConfig, parseArgs } from "node:util";
import { type Command, type OptionRow, UsageError, type Values } from "./command.js";

/** Options every command takes. */
export const COMMON: OptionRow[] = [
  { name: "debug", type: "boolean", help: "on failure, print the stack and the chain of causes" },
  { name: "help", type: "boolean", help: "show this help" },
];

/** `--name` of an `optionalValue` row, not followed by a value, becomes `--name=`. */
function withOptionalValues(args: string[], rows: OptionRow[]): string[] {
  const optional = new Set(rows.filter((row) => row.optionalValue).map((row) => `--${row.name}`));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    if (!optional.has(arg)) out.push(arg);
    else if (next !== undefined && !next.startsWith("-")) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(`${arg}=`);
  }
  return out;
}

/** The command's options and positionals; a mistake is a `UsageError` that never repeats a value. */
export function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const rows = [...command.options, ...COMMON];
  const options: ParseArgsConfig["options"] = {};
  for (const row of rows) {
    options[row.name] =
      row.default !== undefined ? { type: row.type, default: row.default } : { type: row.type };
  }
  try {
    const { values, positionals } = parseArgs({
      args: withOptionalValues(args, rows),
      options,
      allowPositionals: command.positionals === true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    // Node's messages quote the offending argument, which may be a secret typed in the wrong place:
    // say what is wrong without repeating it.
    const code = (error as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const name = /'(-{1,2}[^'=\s]*)/.exec((error as Error).message)?.[1];
      const known = name !== undefined && rows.some((row) => `--${row.name}` === name);
      throw new UsageError(
        known || name === undefined ? "unknown option (see --help)" : `unknown option ${name} (see --help)`,
      );
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      throw new UsageError("unexpected argument (an option's value with spaces needs quotes; see --help)");
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const row = rows.find((r) => (error as Error).message.includes(`--${r.name}`));
      throw new UsageError(
        row
          ? row.type === "boolean"
            ? `--${row.name} takes no value`
            : `--${row.name} needs a value`
          : "an option has a bad value (see --help)",
      );
    }
    throw error;
  }
}
