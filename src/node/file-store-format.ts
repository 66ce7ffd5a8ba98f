import { OBTAINED_AT_SKEW_MS } from "../client/stored-token-check.js";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../client/token-response.js";

export interface FileEntry {
  /** Sealed (or plain JSON) StoredToken. */
  v: string;
  /** obtainedAt, ms since the epoch: orders writes. */
  o: number;
  /** expiresAt, ms since the epoch. */
  e: number;
  /** Fingerprint of the token. */
  f: string;
  /** Group names. */
  g: string[];
}

export interface FileData {
  version: 2;
  entries: Record<string, FileEntry>;
  leases: Record<string, { id: string; until: number }>;
}

const MAX_LIFETIME_MS = MAX_TOKEN_LIFETIME_SECONDS * 1000;

export const empty = (): FileData => ({ version: 2, entries: {}, leases: {} });

/** Could a client have written this entry? (An entry that could not never blocks a write.) */
export function plausible(entry: FileEntry | undefined, now: number): entry is FileEntry {
  if (typeof entry !== "object" || entry === null) return false;
  const { o, e, v } = entry;
  return (
    typeof v === "string" &&
    typeof o === "number" &&
    typeof e === "number" &&
    o <= now + OBTAINED_AT_SKEW_MS &&
    e > now &&
    e - o <= MAX_LIFETIME_MS
  );
}
