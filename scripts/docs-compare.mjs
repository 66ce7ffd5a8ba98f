/**
 * Compares a freshly generated API reference with the committed one (docs/api/), for
 * `npm run docs -- --check`: every file is compared byte for byte, and a file on one side only is a
 * difference too. No TypeDoc here, so the comparison is tested on its own in a few milliseconds.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** At most this many files are named in the message; the rest are counted. */
const NAMED = 30;

/** Every file under a folder, as paths relative to it with `/`, sorted by code unit. */
export function filesUnder(folder) {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)).split("\\").join("/"))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * What differs between `generated` (what the source gives) and `reference` (what is committed), one
 * entry per file, sorted by path: `changed` (both have it, with other bytes), `missing` (the source
 * documents it, the reference lacks it), `extra` (the reference has it, the source no longer gives it).
 */
export function staleFiles(generated, reference) {
  const fresh = new Set(filesUnder(generated));
  const current = new Set(filesUnder(reference));
  const stale = [];
  for (const file of [...new Set([...fresh, ...current])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!current.has(file)) stale.push({ file, problem: "missing" });
    else if (!fresh.has(file)) stale.push({ file, problem: "extra" });
    else if (!readFileSync(join(generated, file)).equals(readFileSync(join(reference, file))))
      stale.push({ file, problem: "changed" });
  }
  return stale;
}

/**
 * The message of a failed check; `label` names the reference folder (`docs/api/`), `command` is what
 * writes it.
 */
export function staleMessage(stale, label, command = "npm run docs") {
  const why = {
    changed: "not what the source gives",
    missing: "the source documents it",
    extra: "the source no longer documents it",
  };
  const lines = [
    `docs: ${stale.length} file(s) of ${label} are stale: run \`${command}\` and commit ${label}`,
    ...stale.slice(0, NAMED).map(({ file, problem }) => `  ${problem}: ${label}${file} (${why[problem]})`),
  ];
  if (stale.length > NAMED) lines.push(`  … and ${stale.length - NAMED} more`);
  return lines.join("\n");
}
