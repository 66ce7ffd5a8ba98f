// One process of a fleet, started by the fleet tests with `fork` (IPC), on the built package (as
// users run it). It builds a ClientCredentialsClient on a shared store (Redis through node-redis 5 or
// 6 or ioredis, or a file), waits for "go", calls getToken and reports what its callers saw.
// Messages in: { type: "config", config }, { type: "go" }, { type: "targets", targets }, { type: "stop" },
// and in the "commands" mode { type: "call", id, op: "getToken" | "fetch", target, url };
// { type: "invalidate", audience }.
// Messages out: { type: "ready" }, { type: "report", report }, { type: "failed", error }, and as they
// happen { type: "event", event } (store_unavailable / store_recovered; redis_ready for node-redis),
// { type: "first_token", target }, { type: "result", id, status?, error? } (one per call),
// { type: "new_token", token } (last 16 characters of a token seen for the first time),
// { type: "invalidated", at } (Date.now() when invalidate returned).
import IORedis, { Cluster as IORedisCluster } from "ioredis";
import * as nodeRedis5 from "redis";
import * as nodeRedis6 from "redis6";
import { ClientCredentialsClient } from "../../dist/index.js";
import { FileTokenStore } from "../../dist/node.js";
import { createRedisTokenStore } from "../../dist/redis.js";

const send = (message) => process.send?.(message);

async function connect(store) {
  const quiet = () => {};
  const nodeRedis = store.kind.startsWith("node-redis-6") ? nodeRedis6 : nodeRedis5;
  switch (store.kind) {
    case "node-redis":
    case "node-redis-6": {
      const c = nodeRedis.createClient({
        url: `redis://127.0.0.1:${store.port}`,
        socket: { reconnectStrategy: () => 100 },
      });
      c.on("error", quiet);
      c.on("ready", () => send({ type: "event", event: "redis_ready" }));
      await c.connect();
      return { redis: c, close: () => c.quit() };
    }
    case "ioredis": {
      const c = new IORedis(store.port, "127.0.0.1", { lazyConnect: true, retryStrategy: () => 100 });
      c.on("error", quiet);
      await c.connect();
      return { redis: c, close: () => c.quit() };
    }
    case "node-redis-cluster":
    case "node-redis-6-cluster": {
      const c = nodeRedis.createCluster({
        rootNodes: store.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      });
      c.on("error", quiet);
      await c.connect();
      return { redis: c, close: () => c.quit() };
    }
    case "ioredis-cluster": {
      const c = new IORedisCluster(store.nodes, { lazyConnect: true });
      c.on("error", quiet);
      await c.connect();
      return { redis: c, close: () => c.quit() };
    }
    default:
      return undefined;
  }
}

function jwtExpMs(token) {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  const exp = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")).exp;
  return typeof exp === "number" ? exp * 1000 : undefined;
}

async function main(config) {
  const connection = await connect(config.store);
  const events = {};
  const onEvent = (event) => {
    events[event.type] = (events[event.type] ?? 0) + 1;
    // Live, so that a test can wait for a condition instead of sleeping.
    if (
      event.type === "store_unavailable" ||
      event.type === "store_recovered" ||
      event.type === "invalidation_channel_down" ||
      event.type === "invalidation_channel_up"
    ) {
      send({ type: "event", event: event.type });
    }
  };
  const store =
    config.store.kind === "memory"
      ? undefined
      : config.store.kind === "file"
        ? new FileTokenStore({
            path: config.store.path,
            encryptionKey: config.encryptionKey,
            lease: config.lease,
            onEvent,
          })
        : createRedisTokenStore({
            redis: connection.redis,
            encryptionKey: config.encryptionKey,
            lease: config.lease,
            redisTimeoutMs: config.redisTimeoutMs,
            onEvent,
          });
  const client = new ClientCredentialsClient({
    tokenEndpoint: config.tokenEndpoint,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    extraParams: config.extraParams,
    store,
    onEvent,
  });
  const report = { calls: 0, errors: [], expired: 0, events, tokens: [], firstTokenAt: {}, lastServedAt: {} };
  const tokens = new Set();
  let targets = config.targets;
  let stopped = false;
  // Calls can arrive in the same IPC read as "go": queued until the "commands" mode takes them.
  const queued = [];
  let onCall = (message) => queued.push(message);
  let onStop = () => {};
  process.on("message", (message) => {
    if (message.type === "targets") targets = message.targets;
    if (message.type === "call") onCall(message);
    if (message.type === "invalidate") {
      client.invalidate({ audience: message.audience }).then(
        () => send({ type: "invalidated", at: Date.now() }),
        (error) => send({ type: "failed", error: String(error?.stack ?? error) }),
      );
    }
    if (message.type === "stop") {
      stopped = true;
      onStop();
    }
  });
  send({ type: "ready" });
  await new Promise((resolve) => process.once("message", resolve));
  const call = async (target) => {
    report.calls++;
    try {
      const token = await client.getToken(target);
      const now = Date.now();
      const exp = jwtExpMs(token.accessToken) ?? token.expiresAt;
      if (exp <= now || token.expiresAt <= now) report.expired++;
      if (!tokens.has(token.accessToken)) {
        tokens.add(token.accessToken);
        send({ type: "new_token", token: token.accessToken.slice(-16) });
      }
      report.lastServedAt[token.accessToken.slice(-16)] = now;
      const name = `${target.audience} ${target.scope}`;
      if (report.firstTokenAt[name] === undefined) {
        report.firstTokenAt[name] = now;
        send({ type: "first_token", target: name });
      }
    } catch (error) {
      report.errors.push(`${error.name}: ${error.message}`);
    }
  };
  if (config.mode.kind === "burst") {
    const { calls, concurrency } = config.mode;
    for (let i = 0; i < calls; i += concurrency) {
      const batch = Array.from(
        { length: Math.min(concurrency, calls - i) },
        (_, j) => targets[(i + j) % targets.length],
      );
      await Promise.all(batch.map(call));
    }
  } else if (config.mode.kind === "commands") {
    // One call per "call" message, as the test sends them, until "stop".
    await new Promise((resolve) => {
      onStop = resolve;
      if (stopped) resolve();
      onCall = async (message) => {
        const result = { type: "result", id: message.id };
        report.calls++;
        try {
          if (message.op === "fetch") {
            const response = await client.fetch(message.url, message.target);
            result.status = response.status;
            await response.body?.cancel();
          } else {
            tokens.add((await client.getToken(message.target)).accessToken);
          }
        } catch (error) {
          result.error = `${error.name}: ${error.message}`;
          report.errors.push(result.error);
        }
        send(result);
      };
      for (const message of queued.splice(0)) onCall(message);
    });
  } else {
    const started = Date.now();
    while (
      !stopped &&
      (config.mode.durationMs === undefined || Date.now() - started < config.mode.durationMs)
    ) {
      await Promise.all(targets.map(call));
      await new Promise((r) => setTimeout(r, config.mode.intervalMs));
    }
  }
  report.tokens = [...tokens].map((t) => t.slice(-16));
  await client.close();
  await store?.close?.();
  await connection?.close().catch(() => {});
  send({ type: "report", report });
}

process.once("message", (message) => {
  main(message.config).then(
    () => process.exit(0),
    (error) => {
      send({ type: "failed", error: String(error?.stack ?? error) });
      process.exit(1);
    },
  );
});
