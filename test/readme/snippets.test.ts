/**
 * Every ```ts block of README.md and of every Markdown file under docs/ (at any depth, the generated
 * API reference docs/api/ aside) type-checks against the package's source, each as a module of its
 * own, with `tsc` run as a child process. New sections and new files are picked up without touching
 * this test; errors are reported as file:line:column of the Markdown file.
 *
 * A block that is a fragment of the text around it (it uses `issuer`, `clientId`, `app`, … without
 * defining them) gets those values from the prelude below; it still imports what it uses from
 * m2m-kit. A deliberately wrong block (an option name that does not exist) is checked in the same run
 * and must be refused, so the check is known to catch what it is for.
 *
 * Blocks that import the MCP SDK or `m2m-kit/mcp` are a program of their own: there Express's
 * `req.auth` is the SDK's `AuthInfo` (the SDK declares it so), as in an MCP server's project.
 */
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { markdownFiles, root, typeScriptBlocks } from "../support/markdown.js";

const run = promisify(execFile);

/** Values a fragment takes from the text around it (global declarations; a block's own names win). */
const PRELUDE = `declare const issuer: string;
declare const clientId: string;
declare const clientSecret: string;
declare const audience: string;
declare const url: string;
declare const app: import("express").Express;
`;

/** Modules of platforms that are not dev dependencies here, with the shapes the blocks use. */
const PLATFORMS = `declare module "next/server" {
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
`;

/** A block with an option name that does not exist: the check must refuse it. */
const CANARY = `import { ClientCredentialsClient, createVerifier } from "m2m-kit";
new ClientCredentialsClient({ issuer, clientId, clientSecret, timeout: 5_000 });
createVerifier({ issuer, audience, clockTolerance: 5 });
`;

/** Whether a block belongs to the MCP program (see above). */
const isMcp = (code: string) =>
  /from "(@modelcontextprotocol\/sdk\/|m2m-kit\/mcp")|import "m2m-kit\/mcp"/.test(code);

function tsconfig(files: string[]): string {
  return JSON.stringify({
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
  });
}

it("every TypeScript snippet in README.md and docs/ type-checks (and a wrong option name is refused)", async () => {
  // docs/api/ is skipped: its blocks are the TSDoc `@example`s, fragments that use the names around them.
  const documents = (await markdownFiles()).filter((d) => !d.path.startsWith("docs/api/"));
  expect(documents.map((d) => d.path)).toContain("docs/security.md");
  const blocks = documents.flatMap(({ path, text }) =>
    typeScriptBlocks(text).map((block) => ({ ...block, path })),
  );
  // The README keeps its two quick starts; the guides under docs/ hold the rest.
  expect(blocks.filter((b) => b.path === "README.md").length).toBeGreaterThanOrEqual(2);
  expect(blocks.length).toBeGreaterThan(50);
  const dir = join(root, ".tmp", "readme-snippets");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "prelude.d.ts"), PRELUDE);
  await writeFile(join(dir, "platforms.d.ts"), PLATFORMS);
  await writeFile(join(dir, "canary.ts"), `${CANARY}export {};\n`);
  const files: string[] = ["prelude.d.ts", "platforms.d.ts", "canary.ts"];
  const mcpFiles: string[] = ["prelude.d.ts"];
  for (const [n, block] of blocks.entries()) {
    const file = `snippet-${n}.ts`;
    // Each block is its own module (top-level await allowed).
    await writeFile(join(dir, file), `${block.code}\nexport {};\n`);
    (isMcp(block.code) ? mcpFiles : files).push(file);
  }
  expect(mcpFiles.length).toBeGreaterThan(3);
  await writeFile(join(dir, "tsconfig.json"), tsconfig(files));
  await writeFile(join(dir, "tsconfig.mcp.json"), tsconfig(mcpFiles));
  const tsc = (project: string) =>
    run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, project)], {
      cwd: dir,
    }).then(
      () => "",
      (error: { stdout: string; stderr: string }) => `${error.stdout}${error.stderr}`,
    );
  const output = (await Promise.all([tsc("tsconfig.json"), tsc("tsconfig.mcp.json")])).join("\n");
  // Errors are reported as <file>.md:<line>:<column> so they can be found in the Markdown file.
  const errors = output
    .split("\n")
    .filter((line) => /error TS/.test(line))
    .map((line) =>
      line.replace(/^snippet-(\d+)\.ts\((\d+),(\d+)\)/, (_, n: string, row: string, column: string) => {
        const block = blocks[Number(n)] as (typeof blocks)[number];
        return `${block.path}:${block.line + Number(row) - 1}:${column}`;
      }),
    );
  const canary = errors.filter((line) => line.startsWith("canary.ts"));
  expect(errors.filter((line) => !line.startsWith("canary.ts"))).toEqual([]);
  expect(canary).toHaveLength(2);
  expect(canary[0]).toMatch(/^canary\.ts\(2,\d+\): error TS(2353|2561): .*'timeout' does not exist/);
  expect(canary[1]).toMatch(/^canary\.ts\(3,\d+\): error TS(2353|2561): .*'clockTolerance' does not exist/);
}, 120_000);
