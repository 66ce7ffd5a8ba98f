export { StoreUnavailableError } from "../errors.js";
export type { EncryptionKeyInput } from "../lib/token-crypto.js";
export type { RedisClientLike } from "./commands.js";
export {
  createRedisReplayStore,
  type RedisReplayStoreOptions,
  type ReplayStore,
} from "./replay-store.js";
export {
  createRedisTokenStore,
  type RedisStoreEvent,
  RedisTokenStore,
  type RedisTokenStoreOptions,
} from "./token-store.js";
