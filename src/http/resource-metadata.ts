import { isLoopbackHost, withoutCredentials } from "../lib/http.js";
import { checkOptionNames, isOptionsObject, type OptionNames } from "../lib/option-names.js";
import { checkScopeTokens } from "../oauth/scope.js";
import { type AcceptedTokens, accepted } from "../verify/accepted.js";
import { normalizeRequirement } from "../verify/scopes.js";
import type { Verifier } from "../verify/verifier.js";
import type { HttpAuthOptions } from "./config.js";

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728), written once: the document, where it is served
 * (§3.1), how it is answered, and the `resource_metadata` challenge parameter (§5.1). Every member is
 * derived from the configuration the adapter enforces; each adapter only mounts the answer.
 */

/** The well-known URI suffix of RFC 9728 §3.1. */
export const WELL_KNOWN_RESOURCE_METADATA = "/.well-known/oauth-protected-resource";

/**
 * `resourceMetadata` of every adapter and of `protectedResourceMetadata()`: what RFC 9728 metadata
 * says beyond what the configuration already gives. Every member is optional; `{}` serves the
 * document derived from the configuration alone.
 */
export interface ResourceMetadataOptions {
  /**
   * The resource identifier (RFC 9728 §2 `resource`): an `https:` URL without query or fragment
   * (`http:` only on a loopback host, for local development). Default: the configured audience when
   * it is one such URL. Required when the verifier accepts several audiences, an audience that is not
   * a URL (an Entra client id), or none (`audience: null`). When some configured audience is a URL,
   * `resource` must be one of them: a token requested for it (RFC 8707) must pass the audience check.
   * The metadata URL is derived from it (RFC 9728 §3.1), never from the request's `Host`.
   */
  resource?: string;
  /**
   * `authorization_servers`: issuer identifiers of the authorization servers agents get tokens from.
   * Default: the verifier's configured issuers. With a fixed list of issuers, each must be one of them
   * (a subset may be listed, such as Entra's v2.0 issuer without the v1 one). Required when the
   * issuers are not a fixed list (a template or a resolver).
   */
  authorizationServers?: readonly string[];
  /**
   * `scopes_supported`: scopes agents may request for this API, such as the scopes of each route.
   * The scopes the configuration requires of every request (`requiredScopes` of the verifier and of
   * the adapter) are always listed, after these. Default: only those.
   */
  scopesSupported?: readonly string[];
  /** `resource_name`: a human-readable name of the API, shown to users by agents. */
  resourceName?: string;
  /** `resource_documentation`: the URL of the API's documentation for developers. */
  resourceDocumentation?: string;
  /** `Cache-Control: max-age` of the document, in seconds. Default 3600. */
  cacheMaxAgeSeconds?: number;
}

/** The names of {@link ResourceMetadataOptions}. */
export const RESOURCE_METADATA_OPTION_NAMES: OptionNames<ResourceMetadataOptions> = {
  resource: true,
  authorizationServers: true,
  scopesSupported: true,
  resourceName: true,
  resourceDocumentation: true,
  cacheMaxAgeSeconds: true,
};

/**
 * The OAuth 2.0 Protected Resource Metadata document (RFC 9728 §2) an API serves, with the members
 * m2m-kit derives from its configuration. `resource_signing_alg_values_supported` is never sent: the
 * API signs no responses.
 */
export interface ProtectedResourceMetadata {
  /** The resource identifier: an `https:` URL. */
  resource: string;
  /** Issuer identifiers of the authorization servers whose tokens the API accepts. */
  authorization_servers: string[];
  /** Scopes agents may request (omitted when none is configured). */
  scopes_supported?: string[];
  /** How a token may be sent: `"header"`, and `"query"` / `"body"` when the adapter accepts them. */
  bearer_methods_supported: string[];
  /** Human-readable name of the API. */
  resource_name?: string;
  /** URL of the API's documentation. */
  resource_documentation?: string;
  /** With DPoP (RFC 9449): the accepted proof algorithms. */
  dpop_signing_alg_values_supported?: string[];
  /** With DPoP: whether only DPoP-bound tokens are accepted (`dpop.required`). */
  dpop_bound_access_tokens_required?: boolean;
  /** `true` when only certificate-bound tokens are accepted (RFC 8705, `requireCertificateBoundTokens`). */
  tls_client_certificate_bound_access_tokens?: boolean;
}

/** The metadata of one API, resolved at creation: the document, its URL and the paths that serve it. */
export interface ResourceMetadataEndpoint {
  readonly document: ProtectedResourceMetadata;
  /** The absolute metadata URL (RFC 9728 §3.1), the `resource_metadata` of every challenge. */
  readonly url: string;
  /**
   * The request paths answered: the path-inserted form (also with the resource's terminating slash),
   * and the bare well-known path.
   */
  readonly paths: readonly string[];
  /** The document as JSON, and its length in bytes. */
  readonly body: string;
  readonly bodyBytes: number;
  readonly cacheMaxAgeSeconds: number;
}

/** A response to a metadata request, for an adapter to translate into its framework's. */
export interface MetadataAnswer {
  status: number;
  headers: Record<string, string>;
  /** `undefined` for HEAD, OPTIONS and 405. */
  body: string | undefined;
}

/** Where adapters keep the resolved endpoint in their settings (spread copies it). */
const ENDPOINT = Symbol("m2m-kit.resourceMetadata");

type WithEndpoint = { [ENDPOINT]?: ResourceMetadataEndpoint };

const DEFAULT_MAX_AGE_SECONDS = 3600;
const ALLOW = "GET, HEAD, OPTIONS";

/** The `resource_metadata` URL of an adapter's challenges, when it has `resourceMetadata`. */
export function resourceMetadataUrl(settings: HttpAuthOptions): string | undefined {
  return (settings as WithEndpoint)[ENDPOINT]?.url;
}

/** The resolved endpoint of an adapter's settings, when it has `resourceMetadata`. */
export function resourceMetadataOf(settings: HttpAuthOptions): ResourceMetadataEndpoint | undefined {
  return (settings as WithEndpoint)[ENDPOINT];
}

/**
 * Settings that carry the resolved `resourceMetadata` (checked now: a `TypeError` naming the option),
 * or `settings` as they are without it.
 */
export function withResourceMetadata<T extends HttpAuthOptions>(
  verifier: Verifier,
  settings: T,
  where: string,
): T {
  if (settings.resourceMetadata === undefined) return settings;
  return { ...settings, [ENDPOINT]: resolveResourceMetadata(verifier, settings, where) };
}

/** What the verifier accepts; nothing known of a `Verifier` that is not `createVerifier`'s. */
export function acceptedBy(verifier: Verifier): AcceptedTokens {
  const read = (verifier as { [accepted]?: () => AcceptedTokens })[accepted];
  return typeof read === "function"
    ? read.call(verifier)
    : { issuers: undefined, audiences: undefined, requiredScopes: [] };
}

const CREDENTIALS = "must not contain credentials";

/** Why a URL is not a resource identifier (RFC 9728 §2), or `undefined` when it is one. */
export function resourceProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    return "must be an https: URL (http: only on a loopback host)";
  }
  if (url.username !== "" || url.password !== "") return CREDENTIALS;
  if (value.includes("?") || value.includes("#")) return "must not have a query or a fragment";
  return undefined;
}

function stringList(value: unknown, option: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "")) {
    throw new TypeError(`${option} must be a non-empty array of strings`);
  }
  return [...new Set(value as string[])];
}

/** RFC 9728 §2 `resource`: the option, else the one configured audience that is a URL. */
function resourceOf(option: unknown, audiences: readonly string[] | null | undefined): string {
  if (option !== undefined) {
    if (typeof option !== "string") throw new TypeError("resourceMetadata.resource must be a URL string");
    const problem = resourceProblem(option);
    if (problem !== undefined) throw new TypeError(`resourceMetadata.resource ${problem}`);
    const urls = audiences?.filter((a) => resourceProblem(a) === undefined) ?? [];
    if (audiences && urls.length > 0 && !audiences.includes(option)) {
      throw new TypeError(
        `resourceMetadata.resource must be one of the configured audiences (${urls.join(", ")}): a token requested for ${option} would be refused`,
      );
    }
    return option;
  }
  if (audiences === undefined) {
    throw new TypeError(
      "resourceMetadata.resource is required: the audiences this verifier accepts are not known ahead (a resolver, or a Verifier not made by createVerifier())",
    );
  }
  if (audiences === null) {
    throw new TypeError("resourceMetadata.resource is required: the audience check is off (audience: null)");
  }
  if (audiences.length !== 1) {
    throw new TypeError(
      `resourceMetadata.resource is required: the verifier accepts several audiences (${audiences.join(", ")}); name the one this API is`,
    );
  }
  const [audience] = audiences as [string];
  const problem = resourceProblem(audience);
  if (problem !== undefined) {
    throw new TypeError(
      `resourceMetadata.resource is required: the audience ${problem === CREDENTIALS ? "" : `${JSON.stringify(audience)} `}is not a resource identifier (it ${problem})`,
    );
  }
  return audience;
}

/** RFC 9728 §2 `authorization_servers`: the option (a subset of the issuers), else the issuers. */
function authorizationServersOf(option: unknown, issuers: readonly string[] | undefined): string[] {
  if (option === undefined) {
    if (issuers === undefined) {
      throw new TypeError(
        "resourceMetadata.authorizationServers is required: the issuers this verifier accepts are not a fixed list (a template, a resolver, or a Verifier not made by createVerifier())",
      );
    }
    return [...issuers];
  }
  const servers = stringList(option, "resourceMetadata.authorizationServers");
  for (const server of servers) {
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {}
    // Before any message that shows the URL: a password in it is never echoed.
    if (url) withoutCredentials(url, "resourceMetadata.authorizationServers");
    if (url?.protocol !== "https:" && !(url?.protocol === "http:" && isLoopbackHost(url.hostname))) {
      throw new TypeError(`resourceMetadata.authorizationServers: ${server} is not an https: issuer URL`);
    }
    if (issuers !== undefined && !issuers.includes(server)) {
      throw new TypeError(
        `resourceMetadata.authorizationServers: ${server} is not an issuer this API accepts (${issuers.join(", ")})`,
      );
    }
  }
  return servers;
}

/**
 * Checks what can be checked of `resourceMetadata` without the verifier (names and types); the
 * rest when the document is resolved.
 */
export function checkResourceMetadataOptions(value: unknown, where: string): ResourceMetadataOptions {
  if (!isOptionsObject(value)) {
    throw new TypeError(
      "resourceMetadata must be an object of resource metadata options ({} for the defaults)",
    );
  }
  checkOptionNames(value, [RESOURCE_METADATA_OPTION_NAMES], where, "resourceMetadata.");
  const { resourceName, resourceDocumentation, cacheMaxAgeSeconds } = value as ResourceMetadataOptions;
  if (resourceName !== undefined && (typeof resourceName !== "string" || resourceName.trim() === "")) {
    throw new TypeError("resourceMetadata.resourceName must be a non-empty string");
  }
  if (resourceDocumentation !== undefined) {
    let url: URL | undefined;
    try {
      url = typeof resourceDocumentation === "string" ? new URL(resourceDocumentation) : undefined;
    } catch {}
    if (url?.protocol !== "https:" && url?.protocol !== "http:") {
      throw new TypeError("resourceMetadata.resourceDocumentation must be an https: URL");
    }
    withoutCredentials(url, "resourceMetadata.resourceDocumentation");
  }
  if (
    cacheMaxAgeSeconds !== undefined &&
    (typeof cacheMaxAgeSeconds !== "number" ||
      !Number.isSafeInteger(cacheMaxAgeSeconds) ||
      cacheMaxAgeSeconds < 0)
  ) {
    throw new TypeError("resourceMetadata.cacheMaxAgeSeconds must be a non-negative integer");
  }
  return value as ResourceMetadataOptions;
}

/**
 * The document and its URL for a verifier and an adapter's settings, from `settings.resourceMetadata`
 * (`{}` when absent). Throws a `TypeError` naming the option for a bad or missing value.
 */
export function resolveResourceMetadata(
  verifier: Verifier,
  settings: HttpAuthOptions,
  where: string,
): ResourceMetadataEndpoint {
  const options = checkResourceMetadataOptions(settings.resourceMetadata ?? {}, where);
  const configured = acceptedBy(verifier);
  const resource = resourceOf(options.resource, configured.audiences);
  const document: ProtectedResourceMetadata = {
    resource,
    authorization_servers: authorizationServersOf(options.authorizationServers, configured.issuers),
    bearer_methods_supported: ["header"],
  };
  const scopes: string[] = [];
  if (options.scopesSupported !== undefined) {
    const listed = stringList(options.scopesSupported, "resourceMetadata.scopesSupported");
    checkScopeTokens(listed, "resourceMetadata.scopesSupported");
    scopes.push(...listed);
  }
  const required = [
    ...configured.requiredScopes,
    ...(normalizeRequirement(settings.requiredScopes, "requiredScopes")?.scopes ?? []),
  ];
  for (const scope of required) if (!scopes.includes(scope)) scopes.push(scope);
  if (scopes.length > 0) document.scopes_supported = scopes;
  const dpop = verifier.dpop;
  // With DPoP required, a token in the query or the body is refused whatever the adapter allows.
  if (!dpop?.required) {
    if (settings.allowQueryToken) document.bearer_methods_supported.push("query");
    if (settings.allowBodyToken) document.bearer_methods_supported.push("body");
  }
  if (options.resourceName !== undefined) document.resource_name = options.resourceName;
  if (options.resourceDocumentation !== undefined) {
    document.resource_documentation = options.resourceDocumentation;
  }
  if (dpop !== undefined) {
    document.dpop_signing_alg_values_supported = [...dpop.algorithms];
    document.dpop_bound_access_tokens_required = dpop.required;
  }
  if (settings.requireCertificateBoundTokens) document.tls_client_certificate_bound_access_tokens = true;
  // RFC 9728 §3.1: the well-known suffix goes between the host and the path (a terminating slash dropped).
  const url = new URL(resource);
  const path = url.pathname.replace(/\/+$/, "");
  const inserted = `${WELL_KNOWN_RESOURCE_METADATA}${path}`;
  const paths = path === "" ? [inserted] : [inserted, WELL_KNOWN_RESOURCE_METADATA];
  // The MCP SDK's getOAuthProtectedResourceMetadataUrl keeps the terminating slash §3.1 removes, and
  // its requireBearerAuth names that URL in challenges: answered too.
  if (path !== "" && url.pathname.endsWith("/")) paths.push(`${inserted}/`);
  const body = JSON.stringify(document);
  return {
    document,
    url: `${url.origin}${inserted}`,
    paths,
    body,
    bodyBytes: new TextEncoder().encode(body).length,
    cacheMaxAgeSeconds: options.cacheMaxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
  };
}

/** A path with its percent-encoded octets decoded (as Hono and Fastify's router see it), else as it is. */
function decodedPath(path: string): string {
  if (!path.includes("%")) return path;
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

/**
 * Whether `path` is one the endpoint answers, as the request sent it (`/caf%C3%A9`, Express) or
 * decoded (`/café`, Hono): a resource whose path has characters a URL percent-encodes is served too.
 */
function servesPath(endpoint: ResourceMetadataEndpoint, path: string): boolean {
  if (endpoint.paths.includes(path)) return true;
  if (!path.startsWith(WELL_KNOWN_RESOURCE_METADATA)) return false;
  const decoded = decodedPath(path);
  return endpoint.paths.some((served) => decodedPath(served) === decoded);
}

/**
 * The paths a router that decodes the request path before it matches routes (Fastify's) must
 * register for the endpoint: each path decoded.
 */
export function decodedMetadataPaths(endpoint: ResourceMetadataEndpoint): string[] {
  return endpoint.paths.map(decodedPath);
}

/**
 * The answer to a request for `path` (the path the application sees, without the query), or
 * `undefined` when it is not a metadata path: the document for GET and HEAD, a CORS preflight answer
 * for OPTIONS, 405 for other methods. Readable from any origin: the document is public.
 */
export function answerMetadataRequest(
  endpoint: ResourceMetadataEndpoint,
  method: string,
  path: string,
): MetadataAnswer | undefined {
  if (!servesPath(endpoint, path)) return undefined;
  const cors = { "access-control-allow-origin": "*" };
  if (method === "GET" || method === "HEAD") {
    return {
      status: 200,
      headers: {
        ...cors,
        "content-type": "application/json",
        "content-length": String(endpoint.bodyBytes),
        "cache-control": `public, max-age=${endpoint.cacheMaxAgeSeconds}`,
      },
      body: method === "GET" ? endpoint.body : undefined,
    };
  }
  if (method === "OPTIONS") {
    return {
      status: 204,
      headers: {
        ...cors,
        allow: ALLOW,
        "access-control-allow-methods": ALLOW,
        "access-control-allow-headers": "*",
        "access-control-max-age": String(endpoint.cacheMaxAgeSeconds),
      },
      body: undefined,
    };
  }
  return { status: 405, headers: { ...cors, allow: ALLOW, "content-length": "0" }, body: undefined };
}
