/**
 * The API reference (docs/api/) and `npm run docs -- --check`, which compares what the source gives
 * with the committed pages file by file and fails naming every stale file. The comparison is tested
 * here on small folders; TypeDoc itself takes 10–20 s, too slow for a unit test, and `npm test` runs
 * the whole check on every change.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { filesUnder, staleFiles, staleMessage } from "../../scripts/docs-compare.mjs";
import { root } from "../support/markdown.js";

const folders: string[] = [];

/** A temporary folder holding these files (path with `/` → text), removed after the test. */
function folderWith(files: Record<string, string>): string {
  const folder = mkdtempSync(join(tmpdir(), "m2m-kit-api-test-"));
  folders.push(folder);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), text);
  }
  return folder;
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const PAGES = {
  "README.md": "# m2m-kit API reference\n",
  "m2m-kit/README.md": "# m2m-kit\n",
  "m2m-kit/classes/M2MError.md": "# Class: M2MError\n",
  "m2m-kit/functions/createVerifier.md": "# Function: createVerifier()\n\nCreates a verifier.\n",
};

it("the committed reference has an entry page with a section and a page per entry point of package.json", () => {
  const committed = join(root, "docs", "api");
  const files = filesUnder(committed);
  const index = readFileSync(join(committed, "README.md"), "utf8");
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  for (const key of Object.keys(manifest.exports).filter((key) => key !== "./package.json")) {
    const specifier = key === "." ? "m2m-kit" : `m2m-kit/${key.slice(2)}`;
    expect(files).toContain(`${specifier}/README.md`);
    expect(index).toContain(`\n## ${specifier}\n`);
  }
});

it("a reference that is what the source gives passes", () => {
  expect(staleFiles(folderWith(PAGES), folderWith(PAGES))).toEqual([]);
});

it("a changed, a missing and a leftover page fail the check, each named in the message", () => {
  const generated = folderWith(PAGES);
  const { "m2m-kit/classes/M2MError.md": _removed, ...kept } = PAGES;
  const reference = folderWith({
    ...kept,
    "m2m-kit/functions/createVerifier.md": "# Function: createVerifier()\n\nMakes a verifier.\n",
    "m2m-kit/functions/removedFunction.md": "# Function: removedFunction()\n",
  });

  const stale = staleFiles(generated, reference);
  expect(stale).toEqual([
    { file: "m2m-kit/classes/M2MError.md", problem: "missing" },
    { file: "m2m-kit/functions/createVerifier.md", problem: "changed" },
    { file: "m2m-kit/functions/removedFunction.md", problem: "extra" },
  ]);
  expect(staleMessage(stale, "docs/api/")).toBe(
    [
      "docs: 3 file(s) of docs/api/ are stale: run `npm run docs` and commit docs/api/",
      "  missing: docs/api/m2m-kit/classes/M2MError.md (the source documents it)",
      "  changed: docs/api/m2m-kit/functions/createVerifier.md (not what the source gives)",
      "  extra: docs/api/m2m-kit/functions/removedFunction.md (the source no longer documents it)",
    ].join("\n"),
  );
});

it("line endings changed by a checkout are a change (pages are compared byte for byte)", () => {
  const crlf = Object.fromEntries(
    Object.entries(PAGES).map(([path, text]) => [path, text.replaceAll("\n", "\r\n")]),
  );
  expect(staleFiles(folderWith(PAGES), folderWith(crlf)).map((s) => s.problem)).toEqual(
    Object.keys(PAGES).map(() => "changed"),
  );
});

it("a reference stale as a whole names 30 files and counts the rest", () => {
  const pages = Object.fromEntries(
    Array.from({ length: 45 }, (_, n) => [`m2m-kit/functions/f${n}.md`, "# f\n"]),
  );
  const stale = staleFiles(folderWith({}), folderWith(pages));
  expect(stale).toHaveLength(45);
  const lines = staleMessage(stale, "docs/api/").split("\n");
  expect(lines).toHaveLength(1 + 30 + 1);
  expect(lines.at(-1)).toBe("  … and 15 more");
  expect(lines.slice(1, -1).every((line) => line.startsWith("  extra: docs/api/m2m-kit/functions/f"))).toBe(
    true,
  );
});
