/**
 * README.md is read on npm too, where the repository's files are not: every link to one of them is an
 * absolute link to the repository, and the file or folder it names exists.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const REPOSITORY = "https://github.com/m2m-kit/m2m-kit";

it("README links to repository files are absolute and point at files that exist", async () => {
  const readme = await readFile(join(root, "README.md"), "utf8");
  const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  expect(manifest.repository.url).toBe(`git+${REPOSITORY}.git`);
  // Inline Markdown links and images, outside code blocks.
  const prose = readme.replace(/^```[\s\S]*?^```/gm, "");
  const targets = [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
  expect(targets.length).toBeGreaterThan(10);
  const relative = targets.filter((target) => !/^(https?:|mailto:|#)/.test(target));
  expect(relative).toEqual([]);
  const missing = targets
    .filter((target) => target.startsWith(`${REPOSITORY}/`))
    .map((target) => /^\/(?:blob|tree)\/main\/([^#?]+)/.exec(target.slice(REPOSITORY.length))?.[1] ?? target)
    .filter((path) => !existsSync(join(root, path)));
  expect(missing).toEqual([]);
});
