import { createServer } from "node:http";
import { Hono } from "hono";
import { honoAuth, requireScopes } from "m2m-kit/hono";

const app = new Hono();

app.use("/api/*", honoAuth({ issuer: process.env.ISSUER ?? "", audience: "https://api.example.com" }));

app.get("/api/data", requireScopes("read:data"), (c) =>
  c.json({ client: c.get("auth").clientId, scopes: c.get("auth").scopes }),
);

app.post("/api/data", requireScopes("write:data"), (c) => c.json({ client: c.get("auth").clientId }, 201));

// On Workers, Deno or Bun: `export default app`. On Node, a small bridge from node:http to app.fetch:
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const response = await app.fetch(
    new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    }),
  );
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});
server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`hono-api listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
