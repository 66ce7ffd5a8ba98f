#!/usr/bin/env node
/**
 * Builds dist/ with tsup and prints nothing unless the build fails (then its whole output).
 * `--if-stale`: skip the build when dist/ is newer than every source and build setting.
 * Used by `npm run demo` (whose output should be the story) and by `prepack`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const inputs = ["src", "tsup.config.ts", "package.json", "tsconfig.json"];
const outputs = ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/cli/bin.js"];

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

export function isStale() {
  const missing = outputs.some((file) => !existsSync(join(root, file)));
  if (missing) return true;
  const built = Math.min(...outputs.map((file) => statSync(join(root, file)).mtimeMs));
  const changed = Math.max(
    ...inputs.filter((p) => existsSync(join(root, p))).map((p) => newest(join(root, p))),
  );
  return changed > built;
}

if (process.argv.includes("--if-stale")) {
  if (!isStale()) process.exit(0);
  process.stderr.write("building dist/ first (the sources changed since the last build)…\n");
}
const tsup = join(root, "node_modules", ".bin", process.platform === "win32" ? "tsup.cmd" : "tsup");
const result = spawnSync(tsup, ["--silent"], { cwd: root, encoding: "utf8" });
if (result.status !== 0) {
  process.stderr.write(
    `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}\n`,
  );
  process.stderr.write("build failed (npm run build shows the full output)\n");
  process.exit(result.status ?? 1);
}
