/**
 * Cloudflare Workers (workerd) forbid one request from using I/O another request started: a promise
 * settled by another request's fetch may never settle for this one (the other request can end
 * first), and an `AbortSignal` made in one request cannot be passed to another request's `fetch`.
 * There, shared promises (single flight, discovery, JWKS refreshes, introspection) are not shared:
 * each request starts its own fetch, still bounded by the cooldowns, and background work runs
 * through the caller's `waitUntil` only. DESIGN.md "Shared state across requests".
 */
export const requestScopedIo: boolean = /* @__PURE__ */ (() =>
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === "Cloudflare-Workers")();

/**
 * Keeps the request (and its I/O) alive until background work settles: a Worker's
 * `ctx.waitUntil`, `event.waitUntil`, or Next.js's `after`.
 */
export type WaitUntil = (promise: Promise<unknown>) => void;
