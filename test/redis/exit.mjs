// A process on the Redis token store that closes its client and its own Redis connection, but not
// the store: it must exit by itself (the store's subscription follows the user's client). Run on the
// built package: node test/redis/exit.mjs <node-redis|node-redis-4|node-redis-6|ioredis> <redis port> <token endpoint> <secret>
import IORedis from "ioredis";
import { createClient } from "redis";
import { createClient as createClient4 } from "redis4";
import { createClient as createClient6 } from "redis6";
import { ClientCredentialsClient } from "../../dist/index.js";
import { createRedisTokenStore } from "../../dist/redis.js";

const [kind, port, tokenEndpoint, clientSecret] = process.argv.slice(2);
const url = `redis://127.0.0.1:${port}`;
const redis =
  kind === "ioredis"
    ? new IORedis(Number(port), "127.0.0.1")
    : await (kind === "node-redis-4"
        ? createClient4
        : kind === "node-redis-6"
          ? createClient6
          : createClient)({
        url,
      }).connect();
const store = createRedisTokenStore({ redis, encryptionKey: null });
const client = new ClientCredentialsClient({ tokenEndpoint, clientId: "basic-client", clientSecret, store });
await client.getToken({ audience: "https://api.example.com" });
for (let i = 0; i < 250 && !store.invalidationChannelUp; i++) await new Promise((r) => setTimeout(r, 20));
console.log(store.invalidationChannelUp ? "subscribed" : "not subscribed");
await client.close();
await (kind === "node-redis-6" ? redis.close() : redis.quit());
