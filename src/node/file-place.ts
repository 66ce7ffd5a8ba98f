import { lstat, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";

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

/**
 * Like ssh with its keys: the folder of `path` (created 0700 when missing) and the file, when it
 * exists, must be owned by `ownerUid` and not writable by group or others, and be a plain folder and
 * a plain file (not a link). Without user ids (Windows) only the folder is created.
 *
 * @throws PlaceRefused naming the file or folder and why; a file system error as it is.
 */
export async function inspectPlace(path: string, ownerUid: number | undefined): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  if (ownerUid === undefined) return;
  const check = (where: string, info: { uid: number; mode: number }, kind: string) => {
    if (info.uid !== ownerUid) {
      throw new PlaceRefused(where, `the ${kind} is owned by another user (uid ${info.uid})`);
    }
    if ((info.mode & 0o022) !== 0) {
      const mode = (info.mode & 0o777).toString(8);
      throw new PlaceRefused(where, `the ${kind} is writable by group or others (mode ${mode})`);
    }
  };
  const folderInfo = await stat(folder);
  if (!folderInfo.isDirectory()) throw new PlaceRefused(folder, "not a folder");
  check(folder, folderInfo, "folder");
  let fileInfo: Awaited<ReturnType<typeof lstat>>;
  try {
    fileInfo = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!fileInfo.isFile()) throw new PlaceRefused(path, "not a plain file (a link or a device)");
  check(path, fileInfo, "file");
}
