/**
 * Serves the suite's application on 127.0.0.1 (random port) with the runtime's own server:
 * Deno.serve, Bun.serve, or node:http. Prints `listening <url>` once it accepts connections.
 */
import { createApp } from "./app.mjs";

const config = JSON.parse(globalThis.Deno ? globalThis.Deno.env.get("M2M_APP") : process.env.M2M_APP);
const app = createApp(config);
const ready = (url) => console.log(`listening ${url}`);

if (globalThis.Deno) {
  globalThis.Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => ready(`http://127.0.0.1:${port}`) },
    (request) => app(request),
  );
} else if (globalThis.Bun) {
  const server = globalThis.Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => app(request) });
  ready(`http://127.0.0.1:${server.port}`);
} else {
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string") headers.set(name, value);
    }
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    const response = await app(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  server.listen(0, "127.0.0.1", () => ready(`http://127.0.0.1:${server.address().port}`));
}
