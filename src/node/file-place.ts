import { constants } from "node:fs";
import { lstat, mkdir, open, realpath, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** The token file or its folder is not safe to share tokens through. */
export class PlaceRefused extends Error {
  constructor(
    /** The file or folder refused. */
    readonly path: string,
    reason: string,
  ) {
    super(reason);
  }
}

interface Owned {
  uid: number;
  mode: number;
}

function checkOwned(where: string, info: Owned, kind: string, ownerUid: number): void {
  if (info.uid !== ownerUid) {
    throw new PlaceRefused(where, `the ${kind} is owned by another user (uid ${info.uid})`);
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new PlaceRefused(where, `the ${kind} is writable by group or others (mode ${mode})`);
  }
}

/**
 * Every folder above `folder`, as written and as the links in it resolve, must be one that no other
 * user can move the token folder out of: owned by `ownerUid` or root, and not writable by group or
 * others unless it has the sticky bit (as `/tmp`, where only an entry's owner can rename it).
 */
async function checkAncestors(folder: string, ownerUid: number): Promise<void> {
  const seen = new Set<string>();
  for (const start of [resolve(folder), await realpath(folder)]) {
    for (let dir = dirname(start); !seen.has(dir); dir = dirname(dir)) {
      seen.add(dir);
      const info = await stat(dir);
      if (info.uid !== ownerUid && info.uid !== 0) {
        throw new PlaceRefused(
          dir,
          `a folder above the token folder is owned by another user (uid ${info.uid}), who could move the token folder away`,
        );
      }
      if ((info.mode & 0o022) !== 0 && (info.mode & 0o1000) === 0) {
        const mode = (info.mode & 0o7777).toString(8);
        throw new PlaceRefused(
          dir,
          `a folder above the token folder is writable by group or others without the sticky bit (mode ${mode}): another user could move the token folder away`,
        );
      }
    }
  }
}

/**
 * Like ssh with its keys: the folder of `path` (created 0700 when missing) and the file, when it
 * exists, must be owned by `ownerUid` and not writable by group or others, and be a plain folder and
 * a plain file (not a link); every folder above it must be one another user cannot move it out of.
 * Without user ids (Windows) only the folder is created.
 *
 * @throws PlaceRefused naming the file or folder and why; a file system error as it is.
 */
export async function inspectPlace(path: string, ownerUid: number | undefined): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  if (ownerUid === undefined) return;
  const folderInfo = await stat(folder);
  if (!folderInfo.isDirectory()) throw new PlaceRefused(folder, "not a folder");
  checkOwned(folder, folderInfo, "folder", ownerUid);
  await checkAncestors(folder, ownerUid);
  let fileInfo: Awaited<ReturnType<typeof lstat>>;
  try {
    fileInfo = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!fileInfo.isFile()) throw new PlaceRefused(path, "not a plain file (a link or a device)");
  checkOwned(path, fileInfo, "file", ownerUid);
}

/**
 * The text of the token file, `undefined` when there is none. The file is checked again as it is
 * opened (without following a link, without waiting on a named pipe): whatever replaced it after
 * {@link inspectPlace} is refused, never read.
 *
 * @throws PlaceRefused when the file is not a plain file of `ownerUid` that only its owner can write.
 */
export async function readPlacedFile(
  path: string,
  ownerUid: number | undefined,
): Promise<string | undefined> {
  const flags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new PlaceRefused(path, "not a plain file (a link or a device)");
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new PlaceRefused(path, "not a plain file (a link or a device)");
    if (ownerUid !== undefined) checkOwned(path, info, "file", ownerUid);
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}
