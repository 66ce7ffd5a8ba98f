import type { OptionNames } from "../lib/option-names.js";
import type { EncryptionKeyInput } from "../lib/token-crypto.js";
import type { RedisClientLike } from "./commands.js";

/** Options of {@link createRedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * A connected node-redis 4/5/6 client (`createClient()`) or cluster (`createCluster()`), or an
   * ioredis `Redis` or `Cluster`. Connection, TLS and auth stay yours; the store never connects
   * except for one connection duplicated from it (`duplicate()`) for its invalidation channel.
   */
  redis: RedisClientLike;
  /** Prefix of every key name and of the invalidation channel. Must not contain `{` or `}`. Default `"m2m:"`. */
  keyPrefix?: string;
  /**
   * Required. A secret of at least 32 characters (e.g. `openssl rand -base64 32`) or 32 bytes, the
   * same for the whole fleet: values are sealed with AES-256-GCM, key names and credential
   * fingerprints are HMAC-SHA-256 (WebCrypto), so that only the fleet can read or plant a token.
   * `null` stores plain JSON under SHA-256 names: then anyone who can write to Redis can plant a
   * token that the fleet will use. Missing (or `undefined`) is a `TypeError`.
   */
  encryptionKey: EncryptionKeyInput | null;
  /**
   * The fetch lease: `ttlMs` (default 10 000) bounds how long a dead holder blocks the others;
   * `waitTimeoutMs` (default 15 000) how long a caller waits for the holder's token before it fetches
   * on its own. `false`: share tokens but let every process fetch on a miss.
   */
  lease?:
    | {
        /** Lease lifetime in ms: a holder that dies blocks the others at most this long. Default 10 000. */
        ttlMs?: number;
        /** How long a caller waits for the holder's token before it fetches on its own, in ms. Default 15 000. */
        waitTimeoutMs?: number;
      }
    | false;
  /** Each Redis command's timeout, in ms; a slower answer counts as Redis being down. Default 500. */
  redisTimeoutMs?: number;
  /** After a Redis failure, commands are skipped (in-process cache only) for this long, in ms. Default 1 000. */
  retryAfterMs?: number;
  /** Bound of the in-process cache (L1) in front of Redis. Default 1 000 entries. */
  l1MaxEntries?: number;
  /**
   * Redis became unreachable or answers again, the invalidation channel went down or came back, an
   * entry read back was refused (see {@link RedisStoreEvent}).
   */
  onEvent?: (event: RedisStoreEvent) => void;
}

/** Events of a Redis store. They never carry a key name, a token or a value. */
export type RedisStoreEvent =
  | {
      /** A Redis command failed or timed out: the store works from its in-process cache for `retryAfterMs`. */
      type: "store_unavailable";
      /** What the store was doing (`get`, `set`, `delete`, `lease`, …). */
      operation: string;
      /** The error's message (the Redis client's, or the timeout). */
      reason: string;
    }
  | {
      /** Redis answers again; sharing resumes. */
      type: "store_recovered";
      /** How long Redis was considered unreachable, in ms. */
      unavailableMs: number;
    }
  | {
      /**
       * The invalidation channel (a pub/sub subscription) is down or could not be set up: until it is
       * back, in-process entries older than a second are read again from Redis before use.
       */
      type: "invalidation_channel_down";
      /** Why (the Redis client's message). */
      reason: string;
    }
  | {
      /** The invalidation channel is subscribed (again): in-process hits cost no round trip. */
      type: "invalidation_channel_up";
    }
  | {
      /**
       * An entry read back from Redis was refused (unreadable with this `encryptionKey`, not a token,
       * a lifetime over one year, obtained in the future, …): it is a miss, and it is deleted so that
       * the next token written takes its place.
       */
      type: "entry_refused";
      /** Which check failed (never the value). */
      reason: string;
    };

/** The names of {@link RedisTokenStoreOptions}. */
export const REDIS_TOKEN_STORE_OPTION_NAMES: OptionNames<RedisTokenStoreOptions> = {
  redis: true,
  keyPrefix: true,
  encryptionKey: true,
  lease: true,
  redisTimeoutMs: true,
  retryAfterMs: true,
  l1MaxEntries: true,
  onEvent: true,
};

/** The names of the `lease` option's object form. */
export const LEASE_OPTION_NAMES: OptionNames<Exclude<RedisTokenStoreOptions["lease"], false | undefined>> = {
  ttlMs: true,
  waitTimeoutMs: true,
};

export function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive number of milliseconds`);
  }
  return value;
}
