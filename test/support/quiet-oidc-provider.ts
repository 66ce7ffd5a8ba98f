/**
 * Vitest setup file: a passing test prints no oidc-provider warning or notice. The test helpers give
 * oidc-provider everything it would otherwise warn about (test/support/oidc-host.ts); any
 * `oidc-provider WARNING` or `oidc-provider NOTICE` line printed while a test file runs fails that
 * file's current test (or the file, when printed outside a test), naming the line.
 *
 * One line is dropped, as `m2m dev` drops it from its own output: on Node 20 (which this package
 * supports) oidc-provider says on import that it prefers a newer Node LTS.
 */
import { stripVTControlCharacters } from "node:util";
import { afterAll, afterEach } from "vitest";

const LINE = /^oidc-provider (?:WARNING|NOTICE): /;
const RUNTIME_NOTICE = "oidc-provider WARNING: Unsupported runtime";

const printed: string[] = [];
const originals = { warn: console.warn, info: console.info };

for (const method of ["warn", "info"] as const) {
  const original = originals[method];
  console[method] = (...args: unknown[]) => {
    // oidc-provider colours the line on a terminal.
    const first = typeof args[0] === "string" ? stripVTControlCharacters(args[0]) : "";
    if (LINE.test(first)) {
      if (first.startsWith(RUNTIME_NOTICE)) return;
      printed.push(first);
    }
    original.apply(console, args);
  };
}

function failIfPrinted(when: string): void {
  if (printed.length === 0) return;
  const lines = printed.splice(0);
  throw new Error(
    `oidc-provider printed ${lines.length} line(s) ${when}; give it what it asks for in test/support/oidc-host.ts:\n${lines.join("\n")}`,
  );
}

afterEach(() => failIfPrinted("during this test"));

afterAll(() => {
  console.warn = originals.warn;
  console.info = originals.info;
  failIfPrinted("outside the file's tests");
});
