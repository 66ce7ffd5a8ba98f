import { DiscoveryError } from "../errors.js";
import {
  checkPlainUrl,
  type FetchLike,
  fetchText,
  isProxyAuthenticationRefused,
  PROXY_AUTHENTICATION_REFUSED,
  parseJsonObject,
  withoutNulls,
} from "./http.js";
import { describeNetworkError } from "./network-error.js";

/** Authorization server metadata (RFC 8414 §2 / OpenID Connect Discovery §3), as m2m-kit reads it. */
export interface AuthorizationServerMetadata {
  /** The issuer identifier; must equal the configured issuer exactly (RFC 8414 §3.3). */
  issuer: string;
  /** Where the client sends token requests (RFC 6749 §3.2). */
  token_endpoint?: string;
  /** The JWK Set the verifier reads signing keys from (RFC 7517 §5). */
  jwks_uri?: string;
  /** RFC 7662 introspection endpoint, for opaque tokens. */
  introspection_endpoint?: string;
  /** Client authentication methods the token endpoint accepts; picks the client's default `authMethod`. */
  token_endpoint_auth_methods_supported?: string[];
  [field: string]: unknown;
}

export interface DiscoveryOptions {
  fetch: FetchLike;
  timeoutMs: number;
  allowInsecureHttp: boolean;
  signal?: AbortSignal;
}

/** The metadata URLs tried, in order: OpenID Connect Discovery, then RFC 8414 §3.1. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, "");
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/**
 * Fetches and validates the metadata of `issuer`. The document's `issuer` must equal the configured
 * one exactly (RFC 8414 §3.3). Throws `DiscoveryError`; `transient` says whether a later try may work.
 */
export async function discover(
  issuer: string,
  options: DiscoveryOptions,
): Promise<AuthorizationServerMetadata> {
  let lastError: DiscoveryError | undefined;
  for (const url of metadataUrls(issuer)) {
    let response: Response;
    let text: string;
    try {
      ({ response, text } = await fetchText(
        options.fetch,
        url,
        { method: "GET", headers: { accept: "application/json" } },
        options.timeoutMs,
        options.signal,
      ));
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (isProxyAuthenticationRefused(error)) {
        throw new DiscoveryError(`discovery of ${issuer} failed: ${url}: ${PROXY_AUTHENTICATION_REFUSED}`, {
          cause: error,
          transient: false,
        });
      }
      const reason = describeNetworkError(error, url);
      lastError = new DiscoveryError(`discovery of ${issuer} failed: ${url}: ${reason}`, {
        cause: error,
        transient: true,
      });
      continue;
    }
    if (response.status === 407) {
      throw new DiscoveryError(`discovery of ${issuer} failed: ${url}: ${PROXY_AUTHENTICATION_REFUSED}`);
    }
    if (!response.ok) {
      const transient = response.status >= 500 || response.status === 429;
      // A 4xx means "not here": try the next well-known location; keep the more useful error.
      if (!lastError || transient) {
        lastError = new DiscoveryError(`discovery of ${issuer} failed: ${url} answered ${response.status}`, {
          transient,
        });
      }
      continue;
    }
    const metadata = parseJsonObject(text);
    if (!metadata) {
      throw new DiscoveryError(`discovery of ${issuer} failed: ${url} did not return a JSON object`);
    }
    return validateMetadata(withoutNulls(metadata), issuer, url, options.allowInsecureHttp);
  }
  throw lastError ?? new DiscoveryError(`discovery of ${issuer} failed`);
}

/**
 * A discovery document read from elsewhere than its URL (a shared store), checked as a fetched one
 * is: a JSON object, size bounded by the caller, the same `issuer` and URL rules. Throws
 * `DiscoveryError`; `source` names where it came from in the message.
 */
export function parseMetadata(
  text: string,
  issuer: string,
  source: string,
  allowInsecureHttp: boolean,
): AuthorizationServerMetadata {
  const metadata = parseJsonObject(text);
  if (!metadata) throw new DiscoveryError(`discovery of ${issuer} failed: ${source} is not a JSON object`);
  return validateMetadata(withoutNulls(metadata), issuer, source, allowInsecureHttp);
}

function validateMetadata(
  metadata: Record<string, unknown>,
  issuer: string,
  url: string,
  allowInsecureHttp: boolean,
): AuthorizationServerMetadata {
  if (metadata.issuer !== issuer) {
    const found = typeof metadata.issuer === "string" ? `"${metadata.issuer}"` : "no issuer";
    throw new DiscoveryError(
      `discovery of ${issuer} failed: ${url} names ${found}; the configured issuer must match it exactly`,
    );
  }
  for (const field of ["token_endpoint", "jwks_uri", "introspection_endpoint"]) {
    const value = metadata[field];
    if (value === undefined) continue;
    try {
      checkPlainUrl(value, field, allowInsecureHttp);
    } catch (error) {
      throw new DiscoveryError(`discovery of ${issuer} failed: ${(error as Error).message}`);
    }
  }
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((m) => typeof m === "string"))) {
    throw new DiscoveryError(
      `discovery of ${issuer} failed: token_endpoint_auth_methods_supported is not a list of strings`,
    );
  }
  return metadata as AuthorizationServerMetadata;
}
