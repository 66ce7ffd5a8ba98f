// Asgardeo (WSO2) M2M quick start. ISSUER=https://api.asgardeo.io/t/{org}/oauth2/token (the token URL is the issuer).
import { ClientCredentialsClient, createVerifier } from "m2m-kit";

export function asgardeo(env: Record<string, string | undefined>) {
  // Asgardeo takes scopes only (no target parameter) and client_secret_basic — the preset sets both.
  const client = new ClientCredentialsClient({
    provider: "asgardeo",
    issuer: env.ISSUER ?? "",
    clientId: env.CLIENT_ID ?? "",
    clientSecret: env.CLIENT_SECRET ?? "",
  });
  // JWT access tokens (enable them on the app) carry the app's client id as `aud`.
  const verifier = createVerifier({
    provider: "asgardeo",
    issuer: env.ISSUER ?? "",
    audience: env.CLIENT_ID ?? "",
  });
  return { client, verifier };
}
