import { LRUCache } from "lru-cache";
import type { AudienceParam } from "../providers.js";
import { normalizeScope } from "./options.js";

/** What a caller asks for: the API (audience) and the scopes, in the one call shape of every provider. */
export interface Target {
  audience: string | undefined;
  scope: string[];
}

/** A target with its cache key: (token endpoint, client id, audience, sorted scope set). */
export interface KeyedTarget extends Target {
  key: string;
}

/** The per-call fields a target is read from. */
export interface TargetOptions {
  audience?: string | undefined;
  scope?: string | string[] | undefined;
}

/** Checks the per-call target options before any request. */
export function checkTargetOptions(options: TargetOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("getToken options must be an object");
  }
  if (options.scope !== undefined) normalizeScope(options.scope, "scope");
  checkAudience(options.audience);
}

function checkAudience(audience: unknown): void {
  if (audience !== undefined && (typeof audience !== "string" || audience === "")) {
    throw new TypeError("audience must be a non-empty string");
  }
}

/**
 * Turns call options into a target and its cache key. Memoized per (audience, scope as given) for
 * string scopes and the defaults, so a cache hit does no parsing or key building.
 */
export class TargetResolver {
  readonly #memo = new LRUCache<string, KeyedTarget & { endpoint: string }>({ max: 256 });

  constructor(
    private readonly clientId: string,
    private readonly defaults: { audience: string | undefined; scope: string[] },
  ) {}

  resolve(options: TargetOptions, endpointUrl: string): KeyedTarget {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("getToken options must be an object");
    }
    const audience = options.audience ?? this.defaults.audience;
    checkAudience(audience);
    const memoKey =
      typeof options.scope === "string" || options.scope === undefined
        ? `${audience ?? ""}\n${options.scope ?? "\u0000"}`
        : undefined;
    const memo = memoKey === undefined ? undefined : this.#memo.get(memoKey);
    if (memo && memo.endpoint === endpointUrl) return memo;
    const scope = options.scope === undefined ? this.defaults.scope : normalizeScope(options.scope, "scope");
    const key = JSON.stringify([endpointUrl, this.clientId, audience ?? null, scope]);
    const target = { audience, scope, key, endpoint: endpointUrl };
    if (memoKey !== undefined) this.#memo.set(memoKey, target);
    return target;
  }
}

/**
 * The form parameters that name a target in the provider's request style (`scope`, and the
 * audience as `audience=` or `resource=` (RFC 8707), or not at all).
 */
export function targetParams(target: Target, audienceParam: AudienceParam): Array<[string, string]> {
  const params: Array<[string, string]> = [];
  if (target.scope.length > 0) params.push(["scope", target.scope.join(" ")]);
  if (target.audience !== undefined && audienceParam !== "none")
    params.push([audienceParam, target.audience]);
  return params;
}
