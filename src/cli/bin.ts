#!/usr/bin/env node
import { main } from "./index.js";

// A closed pipe (`m2m decode … | head`) ends the command quietly.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

// This process is the CLI's own: oidc-provider's import-time notice that it prefers a newer Node LTS
// is not for `m2m dev` users (the dev server works on every Node the package supports).
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING: Unsupported runtime")) return;
  warn(...args);
};

const io = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
  env: process.env,
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  color: process.stdout.isTTY === true && !process.env.NO_COLOR,
};

main(process.argv.slice(2), io, (close) => {
  const stop = () => {
    close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}).then((code) => {
  // `m2m dev` keeps its server open; every other command ends here.
  if (process.argv[2] !== "dev" || code !== 0) process.exitCode = code;
});
