import { type NameList, optionNamesOf } from "../lib/option-names.js";

/**
 * A request to a protected resource with the token attached (RFC 6750 §2.1): the request's own
 * headers, then the caller's, then `Authorization` and any extra headers (e.g. a DPoP proof).
 */
export function authorizedInit(
  request: string | URL | Request,
  init: RequestInit,
  authorization: string,
  extraHeaders?: HeadersInit,
): RequestInit {
  const headers = new Headers(request instanceof Request ? request.headers : undefined);
  new Headers(init.headers).forEach((value, name) => {
    headers.set(name, value);
  });
  headers.set("authorization", authorization);
  new Headers(extraHeaders).forEach((value, name) => {
    headers.set(name, value);
  });
  return { ...init, headers };
}

/**
 * Whether a request can be sent a second time: without a body, or with one `fetch` reads from memory
 * again (a string, an `ArrayBuffer` or a view of one, a `Blob`, `URLSearchParams`, `FormData`). A body
 * that can be read once only — a `ReadableStream`, an async iterable (undici with `duplex: "half"`),
 * a Node `Readable` or anything else — cannot: its 401 is returned as it is.
 */
export function isReplayable(init: RequestInit): boolean {
  const body: unknown = init.body;
  if (body === undefined || body === null || typeof body === "string") return true;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  // By tag as well as by class: a transport's own classes (the undici package's FormData beside
  // Node's global one) are other classes of the same kind.
  return IN_MEMORY.has(Object.prototype.toString.call(body));
}

const IN_MEMORY = new Set([
  "[object Blob]",
  "[object File]",
  "[object URLSearchParams]",
  "[object FormData]",
]);

/**
 * The `fetch` init of `client.fetch`'s init: every member but m2m-kit's own (`own`), read as `fetch`
 * reads a `RequestInit` (own and inherited members), so a member inherited from a prototype
 * (`method`, `body`) is not dropped.
 */
export function fetchInitOf(init: object, own: NameList): RequestInit {
  const requestInit: Record<string, unknown> = {};
  for (const name of optionNamesOf(init)) {
    if (!Object.hasOwn(own, name)) requestInit[name] = (init as Record<string, unknown>)[name];
  }
  return requestInit as RequestInit;
}
