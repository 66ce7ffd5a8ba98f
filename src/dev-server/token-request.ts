import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";

/** The client id of a token request: `client_id` in the body, or the Basic credentials' user. */
export function clientIdOf(req: IncomingMessage, params: URLSearchParams): string | undefined {
  const fromBody = params.get("client_id");
  if (fromBody) return fromBody;
  const match = /^basic\s+(.+)$/i.exec(req.headers.authorization ?? "");
  if (!match) return undefined;
  const user =
    Buffer.from(match[1] as string, "base64")
      .toString("utf8")
      .split(":")[0] ?? "";
  try {
    return decodeURIComponent(user.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/** The request with a new body: a readable stream carrying the original request's metadata. */
export function rewrittenRequest(req: IncomingMessage, body: string): IncomingMessage {
  const bytes = Buffer.from(body, "utf8");
  const stream = Readable.from([bytes]) as unknown as IncomingMessage;
  return Object.assign(stream, {
    headers: { ...req.headers, "content-length": String(bytes.length) },
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
  });
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
