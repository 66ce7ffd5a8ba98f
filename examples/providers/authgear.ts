// Authgear M2M quick start. ISSUER=https://{project}.authgear.cloud
import { ClientCredentialsClient, createVerifier } from "m2m-kit";

export function authgear(env: Record<string, string | undefined>) {
  // Authgear wants `resource` (RFC 8707) exactly once and client_secret_post — the preset sets both.
  const client = new ClientCredentialsClient({
    provider: "authgear",
    issuer: env.ISSUER ?? "",
    clientId: env.CLIENT_ID ?? "",
    clientSecret: env.CLIENT_SECRET ?? "",
  });
  // Tokens are `at+jwt` with `aud` as an array and `scope`.
  const verifier = createVerifier({
    provider: "authgear",
    issuer: env.ISSUER ?? "",
    audience: env.RESOURCE_URI ?? "",
    requireTyp: true,
  });
  return { client, verifier };
}
