import { readFileSync } from "node:fs";
import type { Command } from "./command.js";
import { COMMON } from "./parse.js";

export function version(): string {
  // dist/cli/bin.js and src/cli/help.ts both sit two levels below package.json.
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return manifest.version as string;
}

export function mainHelp(commands: Record<string, Command>): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length)) + 3;
  return `m2m — machine-to-machine OAuth 2.0 from the command line

Usage: m2m <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`)
  .join("\n")}

Run m2m <command> --help for its options; m2m --version for the version. Exit codes: 0 success,
1 failure, 2 usage error. Add --debug to any command to see stack traces and causes.`;
}

export function commandHelp(command: Command): string {
  const rows = [...command.options, ...COMMON].map((row) => {
    const left = `--${row.name}${row.value ? ` ${row.value}` : ""}`;
    return [left, `${row.help}${row.default !== undefined ? ` (default ${row.default})` : ""}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return `Usage: ${command.usage}

${command.description}

Options:
${rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join("\n")}`;
}
