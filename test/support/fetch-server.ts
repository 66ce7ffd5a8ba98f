/**
 * Serves a fetch-API handler (`(request) => Response`, e.g. a Hono app's `fetch` or a `withAuth`
 * handler) on a real Node HTTP server on 127.0.0.1.
 */
import { createServer } from "node:http";
import { listen } from "./http.js";

export async function serveFetch(handler: (request: Request) => Response | Promise<Response>) {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // Every field as sent, repeated ones too (as Deno, Bun and @hono/node-server build a Request):
    // Node's req.headers keeps only the first of some (Authorization).
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
    }
    const body =
      chunks.length > 0 && req.method !== "GET" && req.method !== "HEAD" ? Buffer.concat(chunks) : undefined;
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body,
    });
    try {
      const response = await handler(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch {
      res.writeHead(500).end("handler failed");
    }
  });
  return listen(server);
}
