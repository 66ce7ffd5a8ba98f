/**
 * A real reverse proxy on 127.0.0.1, as nginx with `proxy_set_header Host $host` and the usual
 * `X-Forwarded-*` lines stands in front of an app where TLS ends: it forwards each request to the
 * upstream with the client's `Host`, and sets `X-Forwarded-Proto: https`, `X-Forwarded-Host` (the
 * client's `Host`) and `X-Forwarded-For`. Optionally strips a path prefix (`location /api/ { proxy_pass
 * http://app/; }`).
 */
import { createServer, request } from "node:http";
import { listen } from "./http.js";

export interface ReverseProxy {
  /** `http://127.0.0.1:port`: where clients connect (the public URL is what they put in `Host`). */
  url: string;
  close(): Promise<void>;
}

export async function startReverseProxy(
  upstream: string,
  options: { stripPrefix?: string } = {},
): Promise<ReverseProxy> {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    let path = req.url ?? "/";
    const prefix = options.stripPrefix;
    if (prefix !== undefined && (path === prefix || path.startsWith(`${prefix}/`))) {
      path = path.slice(prefix.length) || "/";
    }
    const headers = { ...req.headers };
    headers["x-forwarded-proto"] = "https";
    headers["x-forwarded-host"] = req.headers.host;
    headers["x-forwarded-for"] = req.socket.remoteAddress;
    const forward = request(
      { host: target.hostname, port: target.port, method: req.method, path, headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  return listen(server);
}
