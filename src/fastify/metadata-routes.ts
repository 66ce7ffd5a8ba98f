import type { FastifyInstance } from "fastify";
import {
  answerMetadataRequest,
  decodedMetadataPaths,
  type ResourceMetadataEndpoint,
} from "../http/resource-metadata.js";

/** Every method a metadata path answers: GET, HEAD and OPTIONS, and 405 for the others. */
const METADATA_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/** The documents each server serves, by path: one registration per path, the same document twice is one. */
const servedDocuments = new WeakMap<object, Map<string, string>>();

/**
 * Adds the metadata routes (RFC 9728 §3.1) to `fastify`, outside any `global: true` protection
 * (`config.auth: false`). A path that serves this document already is left as it is (the plugin's
 * `resourceMetadata` and `protectedResourceMetadata()` together); another document there is a
 * `TypeError`.
 */
export function serveMetadata(fastify: FastifyInstance, endpoint: ResourceMetadataEndpoint): void {
  let served = servedDocuments.get(fastify.server);
  if (served === undefined) {
    served = new Map();
    servedDocuments.set(fastify.server, served);
  }
  // Fastify's router matches the decoded request path: a percent-encoded resource path is registered decoded.
  const routes = decodedMetadataPaths(endpoint);
  endpoint.paths.forEach((path, i) => {
    const url = `${fastify.prefix}${path}`;
    const existing = served.get(url);
    if (existing === endpoint.body) return;
    if (existing !== undefined) {
      throw new TypeError(`resourceMetadata: ${url} serves the metadata of another resource already`);
    }
    served.set(url, endpoint.body);
    fastify.route({
      method: METADATA_METHODS,
      url: routes[i] as string,
      exposeHeadRoute: false,
      config: { auth: false },
      handler(request, reply) {
        const answer = answerMetadataRequest(endpoint, request.method, path);
        if (answer === undefined) return reply.callNotFound();
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      },
    });
  });
}
