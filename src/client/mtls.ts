import { DiscoveryError, OAuthError } from "../errors.js";
import type { AuthorizationServerMetadata } from "../lib/discovery.js";
import { checkUrl } from "../lib/http.js";
import { type TransportInfo, transportInfo } from "../lib/transport.js";
import { type AuthMethod, isMutualTlsMethod } from "../oauth/client-auth.js";

const NODE_TRANSPORT = "createNodeFetch({ cert, key }) or createNodeFetch({ pfx }) from m2m-kit/node";

/**
 * At construction: a mutual-TLS method with an m2m-kit transport that presents no certificate can
 * never work, so it is a `TypeError`. A `fetch` m2m-kit cannot see into (the global one with a
 * dispatcher of the user's, or another library's) is taken on trust; see {@link withMutualTlsHint}.
 */
export function checkMutualTlsTransport(method: AuthMethod | undefined, fetchImpl: unknown): void {
  if (!isMutualTlsMethod(method)) return;
  if (transportInfo(fetchImpl)?.presentsClientCertificate === false) {
    throw new TypeError(
      `authMethod ${method} needs a fetch that presents a client certificate (${NODE_TRANSPORT}); this one presents none`,
    );
  }
}

/**
 * RFC 8705 §5: a client that authenticates with its certificate, or whose transport presents one
 * (certificate-bound tokens, §3), sends the token request to `mtls_endpoint_aliases.token_endpoint`
 * when the metadata lists it. Returns `undefined` to use the plain `token_endpoint`.
 */
export function mutualTlsTokenEndpoint(
  metadata: AuthorizationServerMetadata,
  method: AuthMethod,
  transport: TransportInfo | undefined,
  allowInsecureHttp: boolean,
): string | undefined {
  if (!isMutualTlsMethod(method) && transport?.presentsClientCertificate !== true) return undefined;
  const aliases = metadata.mtls_endpoint_aliases;
  if (aliases === undefined || aliases === null) return undefined;
  const alias = typeof aliases === "object" ? (aliases as Record<string, unknown>).token_endpoint : undefined;
  if (alias === undefined) return undefined;
  try {
    return checkUrl(alias, "mtls_endpoint_aliases.token_endpoint", allowInsecureHttp).href;
  } catch (error) {
    throw new DiscoveryError(`discovery of ${metadata.issuer} failed: ${(error as Error).message}`);
  }
}

/**
 * A server that refuses a mutual-TLS client (`invalid_client`) most often got no certificate. When
 * the transport is one m2m-kit cannot see into, the message says where to look.
 */
export function withMutualTlsHint(
  error: unknown,
  method: AuthMethod,
  transport: TransportInfo | undefined,
): unknown {
  if (!isMutualTlsMethod(method) || transport !== undefined) return error;
  if (!(error instanceof OAuthError) || error.error !== "invalid_client") return error;
  error.message +=
    ` (authMethod ${method}: the client certificate is presented by the fetch, and m2m-kit cannot ` +
    `see whether yours presents one; ${NODE_TRANSPORT} does)`;
  return error;
}
