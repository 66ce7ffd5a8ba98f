// Kinde M2M quick start. ISSUER=https://{business}.kinde.com
import { ClientCredentialsClient, createVerifier } from "m2m-kit";

export function kinde(env: Record<string, string | undefined>) {
  // Kinde wants `audience` (the API's audience) and the secret in the body — the preset sets both.
  const client = new ClientCredentialsClient({
    provider: "kinde",
    issuer: env.ISSUER ?? "",
    clientId: env.CLIENT_ID ?? "",
    clientSecret: env.CLIENT_SECRET ?? "",
  });
  // Scopes come from `scope` and `scp`; the client id from `azp`.
  const verifier = createVerifier({
    provider: "kinde",
    issuer: env.ISSUER ?? "",
    audience: env.API_AUDIENCE ?? "",
  });
  return { client, verifier };
}
