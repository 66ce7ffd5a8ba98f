const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The form of an `htu` (or of the request URL it is compared with) used for the comparison of
 * RFC 9449 §4.3 step 9: an http(s) URL without query and fragment, after the syntax- and
 * scheme-based normalisation of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host, default port,
 * dot segments, an empty path as "/", percent-encoding with uppercase hex and unreserved characters
 * decoded). `undefined` when the value is not an absolute http(s) URL.
 */
export function normalizeHtu(value: string | URL): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  url.search = "";
  url.hash = "";
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  if (path !== url.pathname) url.pathname = path;
  return url.href;
}

/**
 * Whether the path of a URL or request target has a dot segment (RFC 3986 §3.3: `.` or `..`, each dot
 * also as `%2e` in either case; `\` separates segments as the WHATWG URL parser reads it for http(s)).
 * The comparison of `htu` removes dot segments (RFC 3986 §6.2.2.3), a router working on the raw target
 * does not: `/admin/../orders` would match a proof for `/orders` and be routed to `/admin`.
 */
export function hasDotSegment(url: string): boolean {
  const text = url.replace(/[\t\n\r]/g, "");
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:[\\/]{2}[^\\/?#]*/.exec(text);
  const start = authority ? authority[0].length : 0;
  let end = text.length;
  for (const delimiter of ["?", "#"]) {
    const at = text.indexOf(delimiter, start);
    if (at !== -1 && at < end) end = at;
  }
  const path = text.slice(start, end);
  if (!path.includes(".") && !/%2e/i.test(path)) return false;
  for (const segment of path.split(/[\\/]/)) {
    const decoded = segment.replace(/%2e/gi, ".");
    if (decoded === "." || decoded === "..") return true;
  }
  return false;
}
