import Fastify from "fastify";
import m2mAuth from "m2m-kit/fastify";

const app = Fastify();

await app.register(m2mAuth, { issuer: process.env.ISSUER ?? "", audience: "https://api.example.com" });

// Routes opt in with config.scopes; [] means "any valid token".
app.get("/api/data", { config: { scopes: ["read:data"] } }, async (request) => ({
  client: request.auth?.clientId,
  scopes: request.auth?.scopes,
}));

app.post("/api/data", { config: { scopes: ["write:data"] } }, async (request, reply) => {
  return reply.code(201).send({ client: request.auth?.clientId });
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: "127.0.0.1" });
console.log(`fastify-api listening on ${address}`);
