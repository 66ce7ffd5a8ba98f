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
