#!/usr/bin/env node
/**
 * API reference with TypeDoc over every public entry point of the package, written as Markdown into
 * docs/api/ (typedoc-plugin-markdown) and committed, so that it is read on GitHub beside the guides.
 * The entries are read from package.json "exports" ("." → src/index.ts, "./name" → src/name/index.ts),
 * so a new entry point is documented (and checked) without touching this file, once it has a line in
 * SUMMARIES. Any TypeDoc warning fails the run, including a public symbol or member without TSDoc, and
 * a type used in the public API that is not exported.
 *
 *   npm run docs                  write docs/api/ (replaced as a whole: pages of removed symbols go)
 *   npm run docs -- --check       validate, generate into a temporary folder and compare it with
 *                                 docs/api/ (part of npm test); fails naming every stale file
 *   npm run docs -- --out <dir>   the same with <dir> in place of docs/api/
 *
 * The output depends on the source only: no dates, no version, no source links (they would name the
 * clone's remote and commit), no absolute paths, and one collation whatever the machine's locale.
 * Running it twice, or on a fresh clone, gives the same bytes.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Application, Comment, Converter, LogLevel, ReflectionKind } from "typedoc";
import { MarkdownPageEvent } from "typedoc-plugin-markdown";
import { filesUnder, staleFiles, staleMessage } from "./docs-compare.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** One line per entry point, for the reference's index page and the entry point's own page. */
const SUMMARIES = {
  "m2m-kit":
    "The isomorphic core (web APIs only: Node, Deno, Bun, Workers): the client credentials client, the verifier, DPoP, errors, events.",
  "m2m-kit/express": "Express 4 and 5 middleware: `requireAuth`, `requireScopes`, resource metadata.",
  "m2m-kit/fastify": "The Fastify 5 plugin: route `config.scopes`, `request.auth`, resource metadata.",
  "m2m-kit/web":
    "The fetch-API adapter (`Request` in, `Response` out): Workers, Deno.serve, Bun.serve, Next.js route handlers.",
  "m2m-kit/hono": "Hono middleware on the web adapter.",
  "m2m-kit/testing":
    "For your own tests: a local issuer on 127.0.0.1 that mints tokens with any claims, DPoP helpers.",
  "m2m-kit/dev-server":
    "A local M2M authorization server on oidc-provider, configured like a provider's console.",
  "m2m-kit/otel": "OpenTelemetry metrics and spans for a client or a verifier (`@opentelemetry/api` only).",
  "m2m-kit/node":
    "Node-only: the undici transport (proxies, private CAs, mutual TLS), `FileTokenStore`, workload identity sources.",
  "m2m-kit/redis": "A token store shared by a fleet through Redis, with a lease; a DPoP replay store.",
  "m2m-kit/mcp":
    "The MCP TypeScript SDK's token verifier and client transport `fetch`, and an Express gate for MCP servers.",
};

/** The package's entry points in package.json order: import specifier, source file, TypeDoc's module name. */
export function entryPoints() {
  const entries = [];
  for (const key of Object.keys(manifest.exports)) {
    if (key === "./package.json") continue;
    const file = key === "." ? "src/index.ts" : `src/${key.slice(2)}/index.ts`;
    if (!existsSync(join(root, file)))
      throw new Error(`package.json exports "${key}" but ${file} does not exist`);
    const specifier = key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`;
    entries.push({ specifier, file, module: key === "." ? "index" : key.slice(2) });
  }
  return entries;
}

const { values: args } = parseArgs({
  options: { check: { type: "boolean", default: false }, out: { type: "string" } },
});
const reference = resolve(root, args.out ?? join("docs", "api"));
// How messages name the reference folder: from the repository's root when it is inside it.
const fromRoot = relative(root, reference).split("\\").join("/");
const label = `${fromRoot === "" || fromRoot.startsWith("..") || isAbsolute(fromRoot) ? reference : fromRoot}/`;
const entries = entryPoints();
for (const { specifier } of entries) {
  if (!SUMMARIES[specifier]) {
    console.error(`docs: ${specifier} has no line in SUMMARIES (scripts/docs.mjs); add one`);
    process.exit(1);
  }
}

// TypeDoc and the Markdown theme sort names with `localeCompare()` in the default locale, which
// comes from the environment (in Czech "ch" sorts after "h", in Danish "aa" after "z"). One collation
// for every machine keeps the pages the same wherever they are generated.
const collator = new Intl.Collator("en");
const localeCompare = String.prototype.localeCompare;
String.prototype.localeCompare = function compare(that, locales, options) {
  if (locales === undefined && options === undefined) return collator.compare(String(this), String(that));
  return localeCompare.call(this, that, locales, options);
};

process.exitCode = await main();

/** Generates the reference into a temporary folder, then writes it or compares it; the exit code. */
async function main() {
  // The folder is replaced as a whole: never one that holds more than the reference's pages.
  const foreign = args.check ? undefined : filesUnder(reference).find((file) => !file.endsWith(".md"));
  if (foreign) {
    console.error(`docs: ${label} holds ${foreign}, which is no page of the reference; not replacing it`);
    return 1;
  }
  const generated = mkdtempSync(join(tmpdir(), "m2m-kit-api-"));
  try {
    if (!(await generate(generated))) return 1;
    const count = filesUnder(generated).length;
    if (args.check) {
      const stale = staleFiles(generated, reference);
      if (stale.length > 0) {
        console.error(
          staleMessage(stale, label, args.out ? `npm run docs -- --out ${args.out}` : "npm run docs"),
        );
        return 1;
      }
      console.log(`docs: ${entries.length} entry points, no warnings, ${label} up to date (${count} files)`);
    } else {
      rmSync(reference, { recursive: true, force: true });
      cpSync(generated, reference, { recursive: true });
      console.log(`docs: ${label} written (${count} files)`);
    }
    return 0;
  } finally {
    rmSync(generated, { recursive: true, force: true });
  }
}

/** Runs TypeDoc into `out`; false (with TypeDoc's messages printed) on any error or warning. */
async function generate(out) {
  const app = await Application.bootstrapWithPlugins({
    entryPoints: entries.map(({ file }) => join(root, file)),
    entryPointStrategy: "resolve",
    tsconfig: join(root, "tsconfig.docs.json"),
    plugin: ["typedoc-plugin-markdown"],
    name: manifest.name,
    readme: "none",
    out,
    excludePrivate: true,
    excludeInternal: true,
    // Members inherited from the standard library (Error's `stack`, `captureStackTrace`, …) are
    // documented there, and their text would change with @types/node.
    excludeExternals: true,
    // Source links would depend on the clone's git remote and commit; the reference must not.
    disableSources: true,
    treatWarningsAsErrors: true,
    validation: { notExported: true, invalidLink: true, invalidPath: true, notDocumented: true },
    logLevel: LogLevel.Warn,
    skipErrorChecking: true,
    // typedoc-plugin-markdown: one page per module and per class, interface, function, type and
    // constant; members in tables; signatures as text (the ```ts blocks are the examples); each
    // folder's page is README.md so that GitHub shows it.
    entryFileName: "README.md",
    hidePageHeader: true,
    hideBreadcrumbs: true,
    useCodeBlocks: false,
    indexFormat: "table",
    parametersFormat: "table",
    interfacePropertiesFormat: "table",
    classPropertiesFormat: "table",
    typeDeclarationFormat: "table",
    enumMembersFormat: "table",
    sanitizeComments: true,
  });

  // Modules are named as they are imported ("index" is m2m-kit, "express" is m2m-kit/express), which
  // also places each entry point's pages under docs/api/m2m-kit/<name>/.
  const specifierOf = new Map(entries.map((entry) => [entry.module, entry.specifier]));
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (_context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module)) return;
    const specifier = specifierOf.get(reflection.name);
    if (!specifier) throw new Error(`TypeDoc made a module "${reflection.name}" that is no entry point`);
    reflection.name = specifier;
    if (!reflection.comment) reflection.comment = new Comment([{ kind: "text", text: SUMMARIES[specifier] }]);
  });
  app.renderer.on(MarkdownPageEvent.END, (page) => {
    if (page.url === "README.md") page.contents = indexPage(page.project, app.renderer.router);
  });

  const project = await app.convert();
  if (!project) return false;
  app.validate(project);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) {
    console.error(`docs: ${app.logger.errorCount} error(s), ${app.logger.warningCount} warning(s)`);
    return false;
  }
  await app.generateOutputs(project);
  return !app.logger.hasErrors() && !app.logger.hasWarnings();
}

/**
 * docs/api/README.md: what the reference is and how it is made, then one section per entry point in
 * package.json order with its summary, a link to its page and links to its exports that carry an
 * `@example` (the main entry points, by the house rule).
 */
function indexPage(project, router) {
  const lines = [
    `# ${manifest.name} API reference`,
    "",
    "Every public symbol of the package, one page per class, interface, function, type and constant.",
    "These pages are generated by `npm run docs` from the TSDoc comments in [src/](../../src): change",
    "the comments, then run `npm run docs` and commit docs/api/ (`npm test` fails while the pages",
    "differ from what the source gives). The guides are the [README](../../README.md) and the other",
    "files of [docs/](..).",
  ];
  for (const { specifier } of entries) {
    const module = project.children?.find((child) => child.name === specifier);
    if (!module) throw new Error(`no module for ${specifier}`);
    const main = (module.children ?? []).filter((child) =>
      [child, ...(child.signatures ?? [])].some((part) => part.comment?.getTag("@example")),
    );
    const link = (reflection) => `[\`${reflection.name}\`](${router.getFullUrl(reflection)})`;
    lines.push("", `## ${specifier}`, "", SUMMARIES[specifier], "");
    const everything = `[Everything \`${specifier}\` exports](${router.getFullUrl(module)})`;
    lines.push(
      main.length > 0 ? `${everything}; start with ${main.map(link).join(", ")}.` : `${everything}.`,
    );
  }
  return `${lines.join("\n")}\n`;
}
