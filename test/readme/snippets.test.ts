/**
 * Every ```ts block of README.md type-checks against the package's source, as a module of its own
 * (a snippet that needs context declares it). New sections are picked up without touching this test.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");

/** The ```ts / ```typescript blocks of a Markdown text, with the line each starts on. */
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

it("every TypeScript snippet in README.md type-checks", async () => {
  const blocks = typeScriptBlocks(await readFile(join(root, "README.md"), "utf8"));
  expect(blocks.length).toBeGreaterThan(5);
  const dir = join(root, ".tmp", "readme-snippets");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // Modules of platforms that are not dev dependencies here, declared with the shapes the snippets use.
  await writeFile(
    join(dir, "platforms.d.ts"),
    `declare module "next/server" {
  export type NextRequest = Request & { nextUrl: URL };
  export class NextResponse extends Response {
    static next(init?: { request?: { headers?: Headers } }): NextResponse;
    static json(body: unknown, init?: ResponseInit): NextResponse;
  }
}
declare module "cloudflare:workers" {
  export const env: Record<string, string>;
}
interface Env { [binding: string]: string }
interface ExecutionContext { waitUntil(promise: Promise<unknown>): void; passThroughOnException(): void }
`,
  );
  const files: string[] = ["platforms.d.ts"];
  for (const block of blocks) {
    const file = `readme-line-${block.line}.ts`;
    // Each snippet is its own module (top-level await allowed).
    await writeFile(join(dir, file), `${block.code}\nexport {};\n`);
    files.push(file);
  }
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2022", "DOM", "DOM.Iterable"],
        types: ["node"],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        baseUrl: root,
        paths: {
          "m2m-kit": ["./src/index.ts"],
          "m2m-kit/*": ["./src/*/index.ts"],
          "#platform": ["./src/platform/node.ts"],
        },
      },
      files,
    }),
  );
  const result = await run(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], {
    cwd: dir,
  }).then(
    () => "",
    (error: { stdout: string }) => error.stdout,
  );
  // Errors name the README line of the snippet: readme-line-<N>.ts(row,col).
  expect(result).toBe("");
}, 120_000);
