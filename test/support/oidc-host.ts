/**
 * What a test's oidc-provider is given so that it has nothing to warn about (test/support/oidc.ts,
 * shaped-provider.ts): its own in-memory adapter instead of the quick-start one, a request stream
 * carrying a rewritten token request instead of a pre-parsed `req.body`, and the introspection and
 * revocation policies written out with oidc-provider's default behaviour.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { type AdapterFactory, errors, type KoaContextWithOIDC } from "oidc-provider";
import { createMemoryAdapter } from "oidc-provider/lib/adapters/memory_adapter.js";

/** oidc-provider's memory adapter with a store of its own (the default one warns that it is in use). */
export function memoryAdapter(): AdapterFactory {
  return createMemoryAdapter();
}

/** The request with a new body: a readable stream carrying the original request's metadata. */
export function requestWithBody(req: IncomingMessage, body: string): IncomingMessage {
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

type Policy = (
  ctx: KoaContextWithOIDC,
  client: { clientId: string },
  token: { clientId?: string },
) => boolean;

/** oidc-provider's default introspection policy: every client here is confidential, so any may ask. */
export const introspectionPolicy: Policy = () => true;

/** oidc-provider's default revocation policy for confidential clients: their own tokens only. */
export const revocationPolicy: Policy = (_ctx, client, token) => {
  if (token.clientId !== client.clientId) {
    throw new errors.InvalidRequest("client is not authorized to revoke the presented token");
  }
  return true;
};
