// One process of the fleet benchmark (bench/fleet.ts), on the built package. Started once and used
// for every round, so that 32 processes pay Node's start-up once, not once per row and store.
// Messages in: { type: "round", round } (runs it and answers { type: "report", report }), { type: "exit" }.
// Out: { type: "ready" } once, then one report per round, or { type: "failed", error }.
import { createClient } from "redis";
import { ClientCredentialsClient } from "../dist/index.js";
import { createRedisTokenStore } from "../dist/redis.js";

const send = (message) => process.send?.(message);

async function runRound(round) {
  let redis;
  if (round.redisPort !== undefined) {
    redis = createClient({ url: `redis://127.0.0.1:${round.redisPort}` });
    redis.on("error", () => {});
    await redis.connect();
  }
  const store = redis
    ? createRedisTokenStore({ redis, encryptionKey: round.encryptionKey ?? null, redisTimeoutMs: 5_000 })
    : undefined;
  const client = new ClientCredentialsClient({
    tokenEndpoint: round.tokenEndpoint,
    clientId: round.clientId,
    clientSecret: round.clientSecret,
    store,
    // 32 processes × 3 keys at once on a small machine: counted, not timed out.
    timeoutMs: 60_000,
  });
  let errors = 0;
  let firstError;
  const { calls, concurrency, targets } = round;
  for (let i = 0; i < calls; i += concurrency) {
    const batch = Array.from(
      { length: Math.min(concurrency, calls - i) },
      (_, j) => targets[(i + j) % targets.length],
    );
    await Promise.all(
      batch.map((target) =>
        client.getToken(target).catch((error) => {
          errors++;
          firstError ??= `${error.name}: ${error.message}`;
        }),
      ),
    );
  }
  await client.close();
  await store?.close();
  await redis?.quit().catch(() => {});
  return { calls, errors, firstError };
}

process.on("message", (message) => {
  if (message.type === "exit") process.exit(0);
  if (message.type !== "round") return;
  runRound(message.round).then(
    (report) => send({ type: "report", report }),
    (error) => send({ type: "failed", error: String(error?.stack ?? error) }),
  );
});
send({ type: "ready" });
