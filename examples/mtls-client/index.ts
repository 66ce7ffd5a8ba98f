/**
 * A client that authenticates with its TLS certificate (RFC 8705 `tls_client_auth`, or
 * `self_signed_tls_client_auth`) and calls an API with the certificate-bound token it gets. The
 * certificate goes on the transport (`createNodeFetch` of m2m-kit/node); there is no client secret.
 * Proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY are used as they are set.
 *
 *   ISSUER=https://idp.corp.example CLIENT_ID=orders-job AUDIENCE=https://api.example.com \
 *   CA_FILE=corp-root-ca.pem CERT_FILE=orders-job.pem KEY_FILE=orders-job.key \
 *   API_URL=https://api.example.com/data npx tsx examples/mtls-client/index.ts
 */
import { readFileSync } from "node:fs";
import { ClientCredentialsClient } from "m2m-kit";
import { createNodeFetch } from "m2m-kit/node";

const fetch = createNodeFetch({
  ca: process.env.CA_FILE ? readFileSync(process.env.CA_FILE) : undefined, // a private CA, if any
  cert: readFileSync(process.env.CERT_FILE ?? ""),
  key: readFileSync(process.env.KEY_FILE ?? ""),
});
const client = new ClientCredentialsClient({
  issuer: process.env.ISSUER ?? "",
  clientId: process.env.CLIENT_ID ?? "",
  authMethod:
    process.env.AUTH_METHOD === "self_signed_tls_client_auth"
      ? "self_signed_tls_client_auth"
      : "tls_client_auth",
  defaultAudience: process.env.AUDIENCE,
  fetch, // the token request goes to mtls_endpoint_aliases.token_endpoint when discovery lists it
  onEvent: (event) => {
    if (event.type === "token_fetched") console.log(`token fetched in ${event.durationMs} ms`);
  },
});

try {
  // client.fetch sends the token through the same transport: the API sees the certificate the
  // token is bound to.
  const response = await client.fetch(process.env.API_URL ?? "");
  console.log(`GET ${process.env.API_URL}: ${response.status} ${await response.text()}`);
} catch (error) {
  console.error(`failed: ${(error as Error).message}`); // never the token or a key
  process.exitCode = 1;
} finally {
  await client.close();
  await fetch.close();
}
