/** `curl` for tests that paste a printed command into a shell; the Debian package is installed when missing. */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
let installing: Promise<void> | undefined;

const has = (name: string) =>
  ["/usr/bin", "/usr/local/bin", "/bin", ...(process.env.PATH ?? "").split(":")].some(
    (dir) => dir && existsSync(join(dir, name)),
  );

export async function ensureCurl(): Promise<void> {
  if (has("curl")) return;
  installing ??= (async () => {
    const lock = ["-o", "DPkg::Lock::Timeout=300"];
    await run("apt-get", [...lock, "update"], { timeout: 300_000 });
    await run("apt-get", [...lock, "install", "-y", "--no-install-recommends", "curl", "ca-certificates"], {
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  })();
  await installing;
}
