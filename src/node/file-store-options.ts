import { homedir } from "node:os";
import { join } from "node:path";
import type { OptionNames } from "../lib/option-names.js";
import type { EncryptionKeyInput } from "../lib/token-crypto.js";

/** Options of {@link FileTokenStore}. */
export interface FileTokenStoreOptions {
  /**
   * The store's file. Default: `m2m-tokens.json` in `directory`, which defaults to
   * `$XDG_CACHE_HOME/m2m-kit` or `~/.cache/m2m-kit`. Created with mode 0600 (its folder 0700).
   */
  path?: string;
  /** Folder of the default file name. */
  directory?: string;
  /**
   * Encrypts values with AES-256-GCM and names entries with HMAC-SHA-256: a secret of at least 32
   * characters or bytes. Without it (or with `null`) the file holds tokens in plain JSON (mode 0600
   * still applies).
   */
  encryptionKey?: EncryptionKeyInput | null;
  /**
   * The fetch lease (as in `m2m-kit/redis`): `ttlMs` default 10 000, `waitTimeoutMs` default
   * 15 000. `false`: share tokens, but every process fetches on a miss.
   */
  lease?:
    | {
        /** Lease lifetime in ms: a holder that dies blocks the others at most this long. Default 10 000. */
        ttlMs?: number;
        /** How long a caller waits for the holder's token before it fetches on its own, in ms. Default 15 000. */
        waitTimeoutMs?: number;
      }
    | false;
  /**
   * A lock file older than this (ms), or whose process is gone, is taken over. Default 5 000; the lock
   * is held only for one read-modify-write of the file.
   */
  staleLockMs?: number;
  /**
   * The user id that must own the folder and the file. Default: this process's (`process.getuid()`).
   * As ssh does with its keys, a folder or file owned by another user, or writable by group or
   * others, is refused, and so is a folder above it that another user could move it out of (owned
   * by another user than this one or root, or writable by group or others without the sticky bit):
   * the store then keeps tokens in this process's memory only.
   */
  ownerUid?: number;
  /** The file or folder was refused (`store_refused`), or an entry read back was (`entry_refused`). */
  onEvent?: (event: FileStoreEvent) => void;
}

/** Events of a {@link FileTokenStore}. They never carry a token or a value from the file. */
export type FileStoreEvent =
  | {
      /**
       * The file or its folder is owned by another user or writable by group or others (or is not a
       * plain file or folder): the store does not read or write it, and keeps tokens in memory only.
       */
      type: "store_refused";
      /** The file or folder refused. */
      path: string;
      /** Why. */
      reason: string;
    }
  | {
      /**
       * An entry read back was refused (unreadable with this `encryptionKey`, not a token, a lifetime
       * over one year, obtained in the future, …): a miss, removed so the next token takes its place.
       */
      type: "entry_refused";
      /** Which check failed (never the value). */
      reason: string;
    };

/** The names of {@link FileTokenStoreOptions}. */
export const FILE_TOKEN_STORE_OPTION_NAMES: OptionNames<FileTokenStoreOptions> = {
  path: true,
  directory: true,
  encryptionKey: true,
  lease: true,
  staleLockMs: true,
  ownerUid: true,
  onEvent: true,
};

/** The names of the `lease` option's object form. */
export const LEASE_OPTION_NAMES: OptionNames<Exclude<FileTokenStoreOptions["lease"], false | undefined>> = {
  ttlMs: true,
  waitTimeoutMs: true,
};

export function defaultDirectory(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "m2m-kit");
}

export function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive number of milliseconds`);
  }
  return value;
}
