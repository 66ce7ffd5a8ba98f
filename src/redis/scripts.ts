/**
 * The Lua scripts of the Redis token store. Every script that touches an entry first checks the key's
 * type: a value of another type planted under a key name is dropped or ignored, never an error that
 * would make the store think Redis is down.
 *
 * A token entry is a hash: `v` the sealed (or plain JSON) `StoredToken`, `o` when it was obtained,
 * `e` when it expires (both ms since the epoch), `f` the token's fingerprint. A tombstone (`t` = 1,
 * `o` = when it was invalidated) replaces an invalidated entry until the token would have expired:
 * processes that re-read it drop their in-process copy, and a token obtained before the invalidation
 * cannot be written back over it. `o` and `e` are plain so that a script can order writes; a reader
 * trusts only the sealed value and refuses an entry whose plain fields disagree with it.
 */
import { Script } from "./commands.js";

/** `[v, o, e, t]` of a hash entry, `[]` when there is none (a value of another type is deleted). */
export const READ_ENTRY = new Script(`local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {} end
if t ~= 'hash' then redis.call('DEL', KEYS[1]) return {} end
return redis.call('HMGET', KEYS[1], 'v', 'o', 'e', 't')`);

/**
 * Writes unless the entry holds a token (or tombstone) obtained at the same time or later. An entry
 * that could not have been written by a client (no `o`, `o` in the future, a lifetime over the cap)
 * never blocks a write. ARGV: value, obtainedAt, expiresAt, fingerprint, ttlMs, now, maxLifetimeMs,
 * skewMs. Returns 1 when written.
 */
export const SET_IF_NEWER = new Script(`local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  local o = tonumber(redis.call('HGET', KEYS[1], 'o'))
  local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
  local tomb = redis.call('HGET', KEYS[1], 't')
  local now = tonumber(ARGV[6])
  local valid = o and o <= now + tonumber(ARGV[8]) and (tomb or (e and e > now and e - o <= tonumber(ARGV[7])))
  if valid and o >= tonumber(ARGV[2]) then return 0 end
end
if t ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'o', ARGV[2], 'e', ARGV[3], 'f', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`);

/**
 * Replaces the entry with a tombstone, for as long as the token had left, when it holds the token
 * with fingerprint ARGV[1] (any token when ARGV[1] is empty). ARGV[2]: now. Returns 1 when replaced.
 */
export const TOMBSTONE_IF = new Script(`if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
if redis.call('HGET', KEYS[1], 't') then return 0 end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'f') ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if ttl > 0 then
  redis.call('HSET', KEYS[1], 't', '1', 'o', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`);

/** Deletes an entry a reader refused, while it still holds that value (ARGV[1]). */
export const DELETE_IF_VALUE = new Script(`if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * Takes the lease (`SET NX PX`). A lease no client can have written (no expiry, or longer than
 * ARGV[3] ms) is taken over. ARGV: holder id, ttlMs, longest plausible ttlMs. Returns 1 when taken.
 */
export const ACQUIRE =
  new Script(`if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl > tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`);

/** Compare-and-delete release: only the holder's own lease. */
export const RELEASE =
  new Script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** Group index: adds a member and keeps the set at least as long as its longest entry. */
export const INDEX_ADD = new Script(`local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'set' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`);

/** The members of a group index (`[]` for a value of another type). */
export const INDEX_MEMBERS = new Script(`if redis.call('TYPE', KEYS[1])['ok'] ~= 'set' then return {} end
return redis.call('SMEMBERS', KEYS[1])`);
