// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { M2MError } from "../index.js";
import { type Command, cliMessage, EXIT, type Io, UsageError } from "./command.js";
import { decodeCommand } from "./commands/decode.js";
import { devCommand } from "./commands/dev.js";
import { tokenCommand } from "./commands/token.js";
import { verifyCommand } from "./commands/verify.js";
import { commandHelp, mainHelp, version } from "./help.js";
import { parse } from "./parse.js";

/**
 * The `m2m` command. Exit codes: 0 success; 1 the operation failed (token refused, token invalid,
 * server unreachable); 2 usage or configuration error (including a missing optional peer dependency).
 * Each command is a file of commands/; parsing, help and the transport options are shared.
 */

export { EXIT, type Io, type OptionRow } from "./command.js";

/** The commands, in the order the help lists them. */
const COMMANDS: Record<string, Command> = {
  dev: devCommand,
  token: tokenCommand,
  decode: decodeCommand,
  verify: verifyCommand,
};

const USAGE_CODES = new Set(["ERR_DEV_CONFIG", "ERR_MISSING_PEER_DEPENDENCY"]);

/** `cause: Name [code]: message` lines for an error's causes, innermost last. */
function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let cause = (error as { cause?: unknown })?.cause;
  while (cause !== undefined && cause !== null && !seen.has(cause) && lines.length < 10) {
    seen.add(cause);
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      lines.push(`cause: ${cause.name}${code !== undefined ? ` [${String(code)}]` : ""}: ${cause.message}`);
    } else {
      lines.push(`cause: ${String(cause)}`);
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return lines;
}

/** Runs the CLI; returns the exit code (the `dev` command keeps running until its server closes). */
export async function main(
  argv: string[],
  io: Io,
  onStarted?: (close: () => Promise<void>) => void,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(mainHelp(COMMANDS));
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    io.out(version());
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`m2m: unknown command (see m2m --help)`);
    return EXIT.usage;
  }
  if (args.includes("--help") || args.includes("-h")) {
    io.out(commandHelp(command));
    return EXIT.ok;
  }
  const debug = args.includes("--debug");
  try {
    const { values, positionals } = parse(command, args);
    return await command.run(values, positionals, io, { onStarted });
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const usage = error instanceof UsageError || (typeof code === "string" && USAGE_CODES.has(code));
    const message =
      error instanceof M2MError
        ? `${error.code}: ${cliMessage(error.message)}`
        : cliMessage((error as Error)?.message ?? String(error));
    io.err(`m2m ${name}: ${message}`);
    if (debug) {
      if (error instanceof Error && error.stack) io.err(error.stack);
      for (const line of causeChain(error)) io.err(line);
    }
    return usage ? EXIT.usage : EXIT.failed;
  }
}
