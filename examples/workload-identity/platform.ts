/**
 * Everything around the workload, on this machine: a Kubernetes-like service-account issuer
 * (m2m-kit/testing) whose "kubelet" rewrites a projected token file every ROTATE_MS, the dev server
 * with an app that trusts that issuer (a federated credential instead of a secret), and an API that
 * checks the tokens. It prints the workload's environment — nothing secret in it — and runs until
 * stopped.
 *
 *   ROTATE_MS=60000 npx tsx examples/workload-identity/platform.ts
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import express from "express";
import { startDevServer } from "m2m-kit/dev-server";
import { requireAuth } from "m2m-kit/express";
import { createTestIssuer } from "m2m-kit/testing";

const ORDERS = "https://orders.example.com";
const rotateMs = Number(process.env.ROTATE_MS ?? 60_000);

// The cluster's service-account issuer (on Kubernetes: the API server's --service-account-issuer).
const cluster = await createTestIssuer({ algorithm: "ES256" });
// The authorization server: the app "orders-worker" has no secret, only a federated credential
// trusting the cluster's tokens for one service account.
const dev = await startDevServer({
  keysPath: false,
  config: {
    apis: [{ identifier: ORDERS, name: "Orders", scopes: ["read:orders"] }],
    apps: [
      {
        name: "Orders worker",
        clientId: "orders-worker",
        federated: [{ issuer: cluster.issuer, subject: "system:serviceaccount:orders:worker" }],
        grants: { [ORDERS]: ["read:orders"] },
      },
    ],
  },
});

// The kubelet: a projected service-account token whose audience is the authorization server,
// rewritten (atomically, by rename) well before it expires.
const folder = mkdtempSync(join(tmpdir(), "workload-identity-"));
const tokenFile = join(folder, "token");
let rotations = 0;
async function rotate(): Promise<void> {
  const token = await cluster.mintKubernetesToken({
    audience: dev.issuer,
    namespace: "orders",
    serviceAccount: "worker",
    expiresInSeconds: 3600,
  });
  writeFileSync(`${tokenFile}.next`, token, { mode: 0o600 });
  renameSync(`${tokenFile}.next`, tokenFile);
  if (rotations++ > 0) console.log(`token file rotated (${rotations - 1})`);
}
await rotate();
const kubelet = setInterval(() => void rotate(), rotateMs);

// The API the workload calls.
const app = express();
app.get(
  "/orders",
  requireAuth({ issuer: dev.issuer, audience: ORDERS, requiredScopes: ["read:orders"] }),
  (req, res) => {
    res.json({ client: req.auth?.clientId, orders: [] });
  },
);
const api = createServer(app).listen(0, "127.0.0.1");
await new Promise((resolve) => api.once("listening", resolve));
const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/orders`;

// The workload's environment: where its identity is, and what it calls. No secret.
console.log(`ISSUER=${dev.issuer}`);
console.log("CLIENT_ID=orders-worker");
console.log(`TOKEN_FILE=${tokenFile}`);
console.log(`AUDIENCE=${ORDERS}`);
console.log(`API_URL=${apiUrl}`);
console.log("platform ready");

async function stop(): Promise<void> {
  clearInterval(kubelet);
  api.closeAllConnections();
  api.close();
  await dev.close();
  await cluster.close();
  rmSync(folder, { recursive: true, force: true });
  console.log("platform stopped");
}
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
