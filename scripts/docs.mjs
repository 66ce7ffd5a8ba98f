#!/usr/bin/env node
/**
 * API reference with TypeDoc over every public entry point of the package: the entries are read from
 * package.json "exports" ("." → src/index.ts, "./name" → src/name/index.ts), so a new entry point is
 * documented (and checked) without touching this file. Any TypeDoc warning fails the run, including
 * a public symbol or member without TSDoc, and a type used in the public API that is not exported.
 *
 *   npm run docs            HTML into .tmp/docs (not committed)
 *   npm run docs -- --check validate only, write nothing (part of npm test)
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Application, LogLevel } from "typedoc";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

export function entryPoints() {
  const entries = [];
  for (const key of Object.keys(manifest.exports)) {
    if (key === "./package.json") continue;
    const file = key === "." ? "src/index.ts" : `src/${key.slice(2)}/index.ts`;
    if (!existsSync(join(root, file)))
      throw new Error(`package.json exports "${key}" but ${file} does not exist`);
    entries.push(file);
  }
  return entries;
}

const check = process.argv.includes("--check");
const app = await Application.bootstrapWithPlugins({
  entryPoints: entryPoints().map((file) => join(root, file)),
  entryPointStrategy: "resolve",
  tsconfig: join(root, "tsconfig.docs.json"),
  name: manifest.name,
  readme: "none",
  out: join(root, ".tmp/docs"),
  excludePrivate: true,
  // Source links would depend on the clone's git remote; the reference must not.
  disableSources: true,
  excludeInternal: true,
  treatWarningsAsErrors: true,
  validation: { notExported: true, invalidLink: true, invalidPath: true, notDocumented: true },
  logLevel: LogLevel.Warn,
  skipErrorChecking: true,
  ...(check ? { emit: "none" } : {}),
});
const project = await app.convert();
if (!project) process.exit(1);
app.validate(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error(`docs: ${app.logger.errorCount} error(s), ${app.logger.warningCount} warning(s)`);
  process.exit(1);
}
if (!check) await app.generateOutputs(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1);
console.log(check ? `docs: ${entryPoints().length} entry points, no warnings` : "docs: .tmp/docs/index.html");
