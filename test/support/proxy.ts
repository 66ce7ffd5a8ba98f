/**
 * A real forward proxy (the `proxy` package, "think Squid") on 127.0.0.1 that logs every CONNECT
 * and every plain request it is asked to forward, with whether the client sent proxy credentials
 * and whether they were accepted. Optionally requires Basic credentials (407 otherwise).
 */
import { createServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { createProxy } from "proxy";
import { listen } from "./http.js";

export interface ProxyLogEntry {
  /** "CONNECT" or the method of a plain request. */
  method: string;
  /** `host:port` for CONNECT, the absolute URL for a plain request. */
  target: string;
  /** A `Proxy-Authorization` header was sent. */
  withCredentials: boolean;
  /** The request was let through. */
  allowed: boolean;
}

export interface RunningProxy {
  /** `http://127.0.0.1:port` (no credentials). */
  url: string;
  /** `http://user:password@127.0.0.1:port` when credentials are configured, else `url`. */
  urlWithCredentials: string;
  port: number;
  log: ProxyLogEntry[];
  /** TCP connections the proxy accepted from clients. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startProxy(
  options: { username?: string; password?: string } = {},
): Promise<RunningProxy> {
  const server = createProxy(createServer());
  const log: ProxyLogEntry[] = [];
  let connections = 0;
  const tunnels = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    connections++;
    tunnels.add(socket);
    socket.once("close", () => tunnels.delete(socket));
  });
  const expected =
    options.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64")}`;
  server.authenticate = (req: IncomingMessage) => {
    const header = req.headers["proxy-authorization"];
    const allowed = expected === undefined || header === expected;
    log.push({
      method: req.method ?? "",
      target: req.url ?? "",
      withCredentials: header !== undefined,
      allowed,
    });
    return allowed;
  };
  const { url, close } = await listen(server);
  const port = Number(new URL(url).port);
  const urlWithCredentials =
    options.username === undefined
      ? url
      : `http://${encodeURIComponent(options.username)}:${encodeURIComponent(options.password ?? "")}@127.0.0.1:${port}`;
  return {
    url,
    urlWithCredentials,
    port,
    log,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of tunnels) socket.destroy();
      await close();
    },
  };
}
