// One API process of the fleet in redis-replay.test.ts, on the built package (as users run it): an
// Express API whose verifier keeps DPoP proofs' jti in a Redis replay store. Arguments: issuer,
// audience, Redis URL. Prints "listening <url>" when ready; stops on SIGTERM.
import { createServer } from "node:http";
import express from "express";
import { createClient } from "redis";
import { requireAuth } from "../../dist/express.js";
import { createVerifier } from "../../dist/index.js";
import { createRedisReplayStore } from "../../dist/redis.js";

const [issuer, audience, redisUrl] = process.argv.slice(2);
const connection = createClient({ url: redisUrl });
await connection.connect();
const verifier = createVerifier({
  issuer,
  audience,
  dpop: { replayStore: createRedisReplayStore({ redis: connection, keyPrefix: "dpop:" }) },
});
const app = express();
// Each process of the fleet is called at its own 127.0.0.1 port: the URL comes from the Host header.
app.get("/data", requireAuth(verifier, { publicUrl: "host-header" }), (req, res) => {
  res.json({ client: req.auth?.clientId, pid: process.pid });
});
const server = createServer(app);
server.listen(0, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close();
  connection.quit().finally(() => process.exit(0));
});
