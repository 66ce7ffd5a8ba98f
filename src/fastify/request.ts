import type { FastifyRequest } from "fastify";
import { publicRequestUrl } from "../http/public-url.js";
import type { FastifyAuthOptions } from "./options.js";

/**
 * DPoP header values, method and the request's public URL (`publicUrl`; with `"host-header"`,
 * `request.protocol` and `request.host`, which honour `trustProxy`).
 */
export function dpopParts(request: FastifyRequest, settings: FastifyAuthOptions) {
  const values = request.raw.headersDistinct?.dpop ?? [];
  return {
    dpop: values.flatMap((value) => value.split(",")).map((value) => value.trim()),
    method: request.method,
    url: () =>
      publicRequestUrl(
        settings.publicUrl,
        request.url,
        () => `${request.protocol}://${request.host}${request.url}`,
      ),
  };
}

export function queryTokens(request: FastifyRequest): string[] {
  if (!request.url.includes("access_token")) return [];
  const value = (request.query as Record<string, unknown> | undefined)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Body tokens exist only where the body is parsed: in a `preHandler` (`fastify.requireAuth()` there). */
export function bodyTokens(request: FastifyRequest): string[] {
  const value = (request.body as Record<string, unknown> | undefined | null)?.access_token;
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The `Authorization` header; every value when the request carries more than one (raw headers). */
export function authorizationOf(request: FastifyRequest): string | string[] | undefined {
  const first = request.headers.authorization;
  if (first === undefined) return undefined;
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") count++;
  }
  if (count < 2) return first;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === "authorization") values.push(raw[i + 1] as string);
  }
  return values;
}
