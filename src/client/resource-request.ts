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

/** Whether a request can be sent a second time (a streamed body cannot). */
export function isReplayable(init: RequestInit): boolean {
  return !(init.body instanceof ReadableStream);
}
