import { open, readFile, stat, unlink } from "node:fs/promises";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` holding the lock file `lockPath` (created exclusively, holding this process's pid). A
 * lock whose process is gone, or older than `staleLockMs`, is taken over; waiting ends with an error
 * after twice that.
 */
export async function withFileLock<T>(
  lockPath: string,
  staleLockMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + staleLockMs * 2;
  let delay = 2;
  for (;;) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (await lockIsStale(lockPath, staleLockMs)) {
      await unlink(lockPath).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new Error("the token file stays locked");
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

async function lockIsStale(lockPath: string, staleLockMs: number): Promise<boolean> {
  try {
    const [info, text] = await Promise.all([stat(lockPath), readFile(lockPath, "utf8")]);
    if (Date.now() - info.mtimeMs > staleLockMs) return true;
    const pid = Number.parseInt(text, 10);
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
  } catch {
    return false; // gone meanwhile: the next open will tell
  }
}
