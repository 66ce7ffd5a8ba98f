import type { ReplayStore } from "../dpop/replay-store.js";
import { StoreUnavailableError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { type RedisClientLike, toCommands, withTimeout } from "./commands.js";

export type { ReplayStore };

/** Options of {@link createRedisReplayStore}. */
export interface RedisReplayStoreOptions {
  /** A connected node-redis 4, 5 or 6 client or cluster, or an ioredis `Redis` or `Cluster`. */
  redis: RedisClientLike;
  /** Prefix of every key name. Default `"m2m:jti:"`. */
  keyPrefix?: string;
  /** Each command's timeout, in ms. Default 500. */
  redisTimeoutMs?: number;
}

/** The names of {@link RedisReplayStoreOptions}. */
export const REDIS_REPLAY_STORE_OPTION_NAMES: OptionNames<RedisReplayStoreOptions> = {
  redis: true,
  keyPrefix: true,
  redisTimeoutMs: true,
};

/**
 * A {@link ReplayStore} on Redis shared by a fleet of APIs: `SET <prefix><sha256(jti)> 1 NX PX <ms
 * until expiresAtMs>`. Redis down or slow rejects with `StoreUnavailableError`
 * (`ERR_STORE_UNAVAILABLE`): a replay check never passes without an answer.
 *
 * @throws TypeError on a bad option, naming it.
 * @example
 * ```ts
 * const replayStore = createRedisReplayStore({ redis });
 * app.use(requireAuth({ issuer, audience, dpop: { replayStore } }));
 * ```
 */
export function createRedisReplayStore(options: RedisReplayStoreOptions): ReplayStore {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  checkOptionNames(options, [REDIS_REPLAY_STORE_OPTION_NAMES], "createRedisReplayStore()");
  const redis = toCommands(options.redis);
  const prefix = options.keyPrefix ?? "m2m:jti:";
  if (typeof prefix !== "string") throw new TypeError("keyPrefix must be a string");
  const timeoutMs = options.redisTimeoutMs ?? 500;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError("redisTimeoutMs must be a positive number of milliseconds");
  }
  return {
    async remember(jti, expiresAtMs) {
      if (typeof jti !== "string" || jti === "")
        throw new TypeError("the replay key must be a non-empty string");
      if (typeof expiresAtMs !== "number" || !Number.isFinite(expiresAtMs)) {
        throw new TypeError("expiresAtMs must be a number of milliseconds since the epoch");
      }
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(jti));
      const name = btoa(String.fromCharCode(...new Uint8Array(digest)))
        .replace(/\+/g, "-")
        .replace(/\//g, "_")
        .replace(/=+$/, "");
      const key = prefix + name;
      const ttlMs = Math.max(1, Math.ceil(expiresAtMs - Date.now()));
      let answer: unknown;
      try {
        answer = await withTimeout(redis.send(key, ["SET", key, "1", "NX", "PX", String(ttlMs)]), timeoutMs);
      } catch (error) {
        throw new StoreUnavailableError("the replay store (Redis) did not answer", { cause: error });
      }
      return answer === "OK" || (answer instanceof Uint8Array && new TextDecoder().decode(answer) === "OK");
    },
  };
}
