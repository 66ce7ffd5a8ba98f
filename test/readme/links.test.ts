/**
 * Links in README.md and in every Markdown file under docs/ (new files are picked up without touching
 * this test). README.md is read on npm too, where the repository's files are not: every link it has
 * to one of them is an absolute link to the repository. The guides under docs/ (and the generated API
 * reference, docs/api/) are read in the repository and may link relatively. Either way the file or
 * folder a link names exists, and an anchor into a Markdown file names one of its headings or of its
 * own `<a id>` anchors. Problems are reported as file:line:column.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";
import { expect, it } from "vitest";
import { anchors, markdownFiles, positionOf, prose, root } from "../support/markdown.js";

const REPOSITORY = "https://github.com/m2m-kit/m2m-kit";

/** Inline Markdown links and images outside code, with the offset of their target. */
function links(markdown: string): Array<{ target: string; index: number }> {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => ({
    target: m[1] as string,
    index: (m.index as number) + 2,
  }));
}

/** What a link names in this repository: a path from the root and an anchor, or nothing (elsewhere). */
function resolveTarget(
  file: string,
  target: string,
): { path: string; anchor: string | undefined } | undefined {
  const [pathPart = "", anchor] = target.split("#", 2) as [string, string | undefined];
  if (target.startsWith(`${REPOSITORY}/`)) {
    const path = /^\/(?:blob|tree)\/main\/([^?]+)$/.exec(pathPart.slice(REPOSITORY.length))?.[1];
    return { path: path ?? pathPart, anchor };
  }
  if (/^(https?:|mailto:)/.test(target)) return undefined;
  if (pathPart === "") return { path: file, anchor };
  return { path: relative(root, normalize(join(root, dirname(file), decodeURI(pathPart)))), anchor };
}

it("links in README.md and docs/ point at files and headings that exist; README's are absolute", async () => {
  const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  expect(manifest.repository.url).toBe(`git+${REPOSITORY}.git`);
  const files = await markdownFiles();
  expect(files.map((f) => f.path)).toEqual(
    expect.arrayContaining(["docs/security.md", "docs/api/README.md"]),
  );
  const problems: string[] = [];
  let readmeLinks = 0;
  for (const { path: file, text } of files) {
    for (const { target, index } of links(text)) {
      const { line, column } = positionOf(text, index);
      const where = `${file}:${line}:${column}`;
      if (file === "README.md") readmeLinks++;
      if (file === "README.md" && !/^(https?:|mailto:|#)/.test(target)) {
        problems.push(
          `${where}: ${target} is relative; README.md is read on npm, link to ${REPOSITORY}/blob/main/…`,
        );
        continue;
      }
      const named = resolveTarget(file, target);
      if (!named) continue;
      if (named.path.startsWith("..") || !existsSync(join(root, named.path))) {
        problems.push(`${where}: ${target} names ${named.path}, which does not exist`);
        continue;
      }
      const anchor = named.anchor;
      if (anchor && named.path.endsWith(".md") && statSync(join(root, named.path)).isFile()) {
        const targets = anchors(readFileSync(join(root, named.path), "utf8"));
        if (!targets.has(decodeURIComponent(anchor))) {
          problems.push(`${where}: ${target}: ${named.path} has no heading or anchor #${anchor}`);
        }
      }
    }
  }
  expect(readmeLinks).toBeGreaterThan(10);
  expect(problems).toEqual([]);
});
