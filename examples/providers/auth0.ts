// Auth0 M2M quick start. ISSUER=https://{tenant}.auth0.com/ (with the trailing slash).
import { ClientCredentialsClient, createVerifier } from "m2m-kit";

export function auth0(env: Record<string, string | undefined>) {
  // The M2M app: Auth0 wants `audience` and client_secret_post — the preset sets both.
  const client = new ClientCredentialsClient({
    provider: "auth0",
    issuer: env.ISSUER ?? "",
    clientId: env.CLIENT_ID ?? "",
    clientSecret: env.CLIENT_SECRET ?? "",
  });
  // The API: scopes come from `scope` and, with RBAC, `permissions`.
  const verifier = createVerifier({
    provider: "auth0",
    issuer: env.ISSUER ?? "",
    audience: env.API_IDENTIFIER ?? "",
  });
  return { client, verifier };
}
