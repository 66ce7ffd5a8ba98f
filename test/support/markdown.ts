/**
 * The project's Markdown documents (README.md and every .md file under docs/, at any depth) and what
 * the docs tests read from them: TypeScript blocks, links, headings, and positions as file:line:column.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "../..");

export interface MarkdownFile {
  /** Path from the repository root, with `/`: `README.md`, `docs/security.md`. */
  path: string;
  text: string;
}

/** README.md, then every Markdown file under docs/ (recursively), sorted by path. */
export async function markdownFiles(): Promise<MarkdownFile[]> {
  const docs = (await readdir(join(root, "docs"), { recursive: true }))
    .map((entry) => entry.split("\\").join("/"))
    .filter((entry) => entry.endsWith(".md"))
    .sort()
    .map((entry) => `docs/${entry}`);
  return Promise.all(
    ["README.md", ...docs].map(async (path) => ({ path, text: await readFile(join(root, path), "utf8") })),
  );
}

/** The ```ts / ```typescript blocks, with the 1-based line of their first row. */
export function typeScriptBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] as string)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

const blank = (code: string) => code.replace(/[^\n]/g, " ");

/** The text with fenced code blocks blanked out; lines and columns unchanged. */
function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, blank);
}

/** The text with fenced code blocks and inline code spans blanked out; lines and columns unchanged. */
export function prose(markdown: string): string {
  return withoutCodeBlocks(markdown).replace(/`[^`\n]+`/g, blank);
}

/** 1-based line and column of a character offset. */
export function positionOf(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index).split("\n");
  return { line: before.length, column: (before.at(-1) as string).length + 1 };
}

/**
 * The anchors a link into a Markdown text can name on GitHub: those it makes for the headings, and
 * the HTML anchors the text sets itself (`<a id="property-issuer"></a>`, as the API reference does in
 * its tables).
 */
export function anchors(markdown: string): Set<string> {
  const found = headingAnchors(markdown);
  for (const [, id] of withoutCodeBlocks(markdown).matchAll(/<a\s+(?:id|name)="([^"]+)"/g))
    found.add(id as string);
  return found;
}

/** The anchors GitHub makes for the headings of a Markdown text (`## The client's answer` → `the-clients-answer`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of withoutCodeBlocks(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = (heading as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}
