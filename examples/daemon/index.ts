/**
 * A daemon: calls an API every few seconds for as long as it runs. The token is fetched once,
 * served from cache, and refreshed in the background before it expires; SIGTERM stops it cleanly.
 *
 *   ISSUER=… CLIENT_ID=… CLIENT_SECRET=… AUDIENCE=https://api.example.com API_URL=https://api.example.com/data \
 *   INTERVAL_MS=5000 npx tsx examples/daemon/index.ts
 */
import { ClientCredentialsClient } from "m2m-kit";

const client = new ClientCredentialsClient({
  issuer: process.env.ISSUER ?? "",
  clientId: process.env.CLIENT_ID ?? "",
  clientSecret: process.env.CLIENT_SECRET ?? "",
  defaultAudience: process.env.AUDIENCE,
  onEvent: (event) => {
    if (event.type === "token_fetched")
      console.log(`token fetched in ${event.durationMs} ms (attempts: ${event.attempts})`);
    if (event.type === "refresh_failed") console.error(`background refresh failed: ${event.error.message}`);
    if (event.type === "unauthorized" && event.reason === "fresh_token_refused")
      console.error(
        `the API refused the replacement token too (wrong audience or missing permission?); no new token for ${event.backoffMs} ms`,
      );
  },
});

const intervalMs = Number(process.env.INTERVAL_MS ?? 5000);
const maxCalls = Number(process.env.MAX_CALLS ?? Number.POSITIVE_INFINITY);
// Attempts, not successes: with MAX_CALLS the daemon stops after that many calls, whether they
// succeeded or not.
let calls = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

async function tick(): Promise<void> {
  const call = ++calls;
  try {
    const res = await client.fetch(process.env.API_URL ?? "");
    console.log(`call ${call}: ${res.status} ${await res.text()}`);
  } catch (error) {
    // Errors never contain the secret or the token: safe to log.
    console.error(`call ${call} failed: ${(error as Error).message}`);
  }
  if (calls < maxCalls) timer = setTimeout(tick, intervalMs);
  else await stop();
}

async function stop(): Promise<void> {
  clearTimeout(timer);
  await client.close();
  console.log("stopped");
}

process.once("SIGTERM", stop);
process.once("SIGINT", stop);
void tick();
