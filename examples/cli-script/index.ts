/**
 * CLI script: get a token for an API with the client credentials grant and call the API.
 *
 *   ISSUER=https://tenant.example.com/ CLIENT_ID=… CLIENT_SECRET=… \
 *   AUDIENCE=https://api.example.com API_URL=https://api.example.com/data npx tsx examples/cli-script/index.ts
 */
import { ClientCredentialsClient } from "m2m-kit";

export async function main(
  env: Record<string, string | undefined>,
): Promise<{ status: number; body: string }> {
  const client = new ClientCredentialsClient({
    issuer: env.ISSUER as string,
    clientId: env.CLIENT_ID as string,
    clientSecret: env.CLIENT_SECRET as string,
    defaultAudience: env.AUDIENCE,
    defaultScope: env.SCOPE,
  });
  try {
    // Cached per audience and scope set, refreshed ahead of expiry: call it as often as you like.
    const token = await client.getToken();
    console.log(`got a ${token.tokenType} token for ${token.audience}, scopes [${token.scope.join(", ")}]`);
    // Or let the client attach the token (and retry once with a new one on a 401).
    const res = await client.fetch(env.API_URL as string);
    return { status: res.status, body: await res.text() };
  } finally {
    await client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.env).then(
    ({ status, body }) => console.log(status, body),
    (error) => {
      console.error(`${error.name} [${error.code}]: ${error.message}`);
      process.exitCode = 1;
    },
  );
}
