import { hasDotSegment } from "../dpop/htu.js";
import { dotSegments } from "../dpop/proof-jws.js";
import { withoutCredentials } from "../lib/http.js";
import type { Verifier } from "../verify/options.js";

/**
 * The public URL of a request: the URL the client addressed, which a DPoP proof's `htu` must equal
 * (RFC 9449 §4.3 step 9). Written once; each adapter only says where its framework keeps the request
 * target and how it derives a URL from the request itself.
 */

/**
 * `publicUrl` of every adapter: the origin (and optional base path) clients call the API at, such as
 * `"https://api.example.com"` or `"https://example.com/api"`; or `"host-header"` to derive it from
 * the request.
 */
export interface PublicUrlOptions {
  /**
   * Where clients reach this API, as an `https:` or `http:` origin with an optional base path and
   * no query, fragment or credentials: `"https://api.example.com"`. The public URL of a request is
   * this followed by the path the app sees (a proxy that strips a prefix: put the prefix in the
   * base path, `"https://example.com/api"`). Request headers (`Host`, `X-Forwarded-*`) are then
   * never read for it.
   *
   * `"host-header"` derives it from the request: Express from `req.protocol` and the `Host` header
   * (`X-Forwarded-Proto` and `X-Forwarded-Host` under Express's `trust proxy`), Fastify from
   * `request.protocol` and `request.host` (under `trustProxy`), Hono and the web adapter from the
   * `Request`'s URL. A client can then choose the host its proof is checked against: use it only where
   * every request reaches the app through a proxy that sets those headers itself.
   *
   * Required with DPoP (the verifier's `dpop` option): the `htu` of every proof is compared with it.
   * Not used otherwise.
   *
   * @throws TypeError at creation for another value, or when it is missing with DPoP.
   */
  publicUrl?: string;
}

/**
 * Validates `publicUrl` (a `TypeError` naming it); returns the origin and base path without a
 * trailing slash, `"host-header"`, or `undefined`.
 */
export function checkPublicUrl(value: unknown): string | undefined {
  if (value === undefined || value === "host-header") return value;
  const shape =
    'publicUrl must be an https: or http: origin with an optional path, such as "https://api.example.com", or "host-header"';
  if (typeof value !== "string") throw new TypeError(shape);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(shape);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError(shape);
  withoutCredentials(url, "publicUrl");
  if (value.includes("?") || value.includes("#")) {
    throw new TypeError("publicUrl must not have a query or a fragment");
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * RFC 9449 needs the request URL: with DPoP, `publicUrl` must be set (a URL or `"host-header"`).
 * Called by every adapter once it knows its verifier.
 */
export function checkPublicUrlFor(verifier: Verifier, options: PublicUrlOptions): void {
  if (verifier.dpop === undefined || options.publicUrl !== undefined) return;
  throw new TypeError(
    'publicUrl is required with DPoP: the URL clients call this API at, such as "https://api.example.com", that proofs are checked against (or "host-header")',
  );
}

/** The path and query of a request target; an absolute-form target (`GET http://…`) gives its own. */
function pathOf(target: string): string {
  if (target.startsWith("/")) return target;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return `/${target}`;
  }
}

/**
 * The public URL of a request: `publicUrl` followed by the request target's path, or, with
 * `"host-header"`, what the framework derives from the request (`fromRequest`). Built only on the
 * DPoP path, where it costs little beside the proof's signature. A target with a dot segment
 * (`/admin/../orders`, `/admin/%2e%2e/orders`) is refused with `InvalidDpopProofError`
 * (`ERR_DPOP_HTU`, 401 `invalid_dpop_proof`): the router sees it raw, the proof's comparison normalized.
 */
export function publicRequestUrl(
  publicUrl: string | undefined,
  target: string,
  fromRequest: () => string,
): string {
  // Routers match the raw target; the htu comparison removes dot segments (see `hasDotSegment`).
  if (hasDotSegment(target)) throw dotSegments();
  const base = checkPublicUrl(publicUrl);
  if (base === undefined || base === "host-header") return fromRequest();
  return `${base}${pathOf(target)}`;
}
