/**
 * A small real HTTP server for faults an authorization server will not show on demand: 503 bursts,
 * 429 with Retry-After, a socket that never answers, HTML, invalid JSON, odd token responses.
 * Each request takes the next scripted reply; the last one repeats.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Reply =
  | {
      status?: number;
      json?: unknown;
      body?: string;
      headers?: Record<string, string>;
      delayMs?: number;
      /** JSON built from the request, e.g. a server that echoes what it got into its error. */
      echo?: (request: RecordedRequest) => unknown;
    }
  | { hang: true };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** When the request arrived, Date.now(). */
  at: number;
  /** When the reply was sent in full, Date.now(). */
  answeredAt?: number;
  /** When the connection closed before a reply was sent (the client gave up), Date.now(). */
  closedAt?: number;
}

export interface FaultServer {
  url: string;
  /** Token endpoint path on this server. */
  tokenEndpoint: string;
  requests: RecordedRequest[];
  /** Replies for the token endpoint (and any path without its own route). */
  script(...replies: Reply[]): void;
  /** Replies for one path, e.g. a discovery document. */
  route(path: string, ...replies: Reply[]): void;
  close(): Promise<void>;
}

/** A successful token response. */
export function tokenReply(overrides: Record<string, unknown> = {}): Reply {
  return {
    status: 200,
    json: {
      access_token: `token-${Math.random().toString(36).slice(2)}`,
      token_type: "Bearer",
      expires_in: 3600,
      ...overrides,
    },
  };
}

export async function startFaultServer(): Promise<FaultServer> {
  let replies: Reply[] = [tokenReply()];
  const routes = new Map<string, Reply[]>();
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
      at: Date.now(),
    };
    requests.push(recorded);
    res.on("finish", () => {
      recorded.answeredAt = Date.now();
    });
    res.on("close", () => {
      if (recorded.answeredAt === undefined) recorded.closedAt = Date.now();
    });
    const queue = routes.get(req.url ?? "") ?? replies;
    const reply = queue.length > 1 ? (queue.shift() as Reply) : (queue[0] as Reply);
    if ("hang" in reply) {
      hanging.add(res);
      return;
    }
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (res.destroyed) return;
    const json = reply.echo ? reply.echo(recorded) : reply.json;
    const body = json !== undefined ? JSON.stringify(json) : (reply.body ?? "");
    res.writeHead(reply.status ?? 200, {
      "content-type": json !== undefined ? "application/json" : "text/html",
      ...reply.headers,
    });
    res.end(body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    tokenEndpoint: `${url}/oauth/token`,
    requests,
    script(...next) {
      replies = next;
    },
    route(path, ...next) {
      routes.set(path, next);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
