/**
 * A workload with no secret anywhere: it authenticates with the token its platform gives it (a
 * Kubernetes projected service-account token, re-read for every token request; on AKS the Azure
 * workload identity variables, in GitHub Actions the job's OIDC token) and calls an API.
 *
 *   ISSUER=… CLIENT_ID=… TOKEN_FILE=/var/run/secrets/tokens/m2m-token AUDIENCE=https://orders.example.com \
 *   API_URL=https://orders.example.com/orders INTERVAL_MS=5000 npx tsx examples/workload-identity/service.ts
 */
import { ClientCredentialsClient } from "m2m-kit";
import { workloadIdentity } from "m2m-kit/node";

// Azure workload identity first, then GitHub Actions, then TOKEN_FILE; never the pod's default
// service-account token.
const identity = workloadIdentity({ tokenFile: process.env.TOKEN_FILE, audience: process.env.OIDC_AUDIENCE });
console.log(`workload identity: ${identity.description}`);

const client = new ClientCredentialsClient({
  issuer: identity.issuer ?? process.env.ISSUER ?? "",
  clientId: identity.clientId ?? process.env.CLIENT_ID ?? "",
  clientAssertion: identity.clientAssertion,
  defaultAudience: process.env.AUDIENCE,
  onEvent: (event) => {
    if (event.type === "token_fetched") console.log(`token fetched in ${event.durationMs} ms`);
    if (event.type === "token_failed") console.error(`token request failed: ${event.error.message}`);
  },
});

const intervalMs = Number(process.env.INTERVAL_MS ?? 5000);
const maxCalls = Number(process.env.MAX_CALLS ?? Number.POSITIVE_INFINITY);
let calls = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

async function tick(): Promise<void> {
  const call = ++calls;
  try {
    const res = await client.fetch(process.env.API_URL ?? "");
    console.log(`call ${call}: ${res.status} ${await res.text()}`);
  } catch (error) {
    // Errors name the token file, never the token: safe to log.
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
