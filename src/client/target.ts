import { LRUCache } from "lru-cache";
import { SCOPE_TOKEN } from "../oauth/scope.js";
import type { AudienceParam, ScopeTarget } from "../providers.js";
import { normalizeScope } from "./normalize-options.js";

/** What a caller asks for: the API (audience) and the scopes, in the one call shape of every provider. */
export interface Target {
  audience: string | undefined;
  scope: string[];
}

/** A target with its cache key and the form parameters that name it in the provider's style. */
export interface KeyedTarget extends Target {
  /**
   * `[token endpoint, client id, audience, sorted scope set, partition]` as JSON: the partition holds
   * the grant, `extraParams`, the auth method, the credential's fingerprint and the DPoP thumbprint
   * (see `CachePartition`).
   */
  key: string;
  /** `scope`, `audience`, `resource`, as this provider wants them. */
  params: ReadonlyArray<readonly [string, string]>;
  /** The partition the key was built with (see `CachePartition`). */
  partition: string;
}

/** The per-call fields a target is read from. */
export interface TargetOptions {
  audience?: string | undefined;
  scope?: string | string[] | undefined;
}

/** How the provider is told which API a token is for. */
export interface TargetStyle {
  /** A parameter of its own (`audience`, `resource`), or `none`. */
  audienceParam: AudienceParam;
  /** Or inside `scope`, in the provider's syntax. */
  scopeTarget: ScopeTarget | undefined;
}

const ZITADEL_AUDIENCE = (projectId: string) => `urn:zitadel:iam:org:project:id:${projectId}:aud`;

function checkAudience(audience: unknown): void {
  if (audience !== undefined && (typeof audience !== "string" || audience === "")) {
    throw new TypeError("audience must be a non-empty string");
  }
}

/**
 * The form parameters that name a target in the provider's request style:
 * - `audience=` (Auth0, Kinde, Hydra) or `resource=` (Authgear, RFC 8707) beside `scope`;
 * - Entra: `scope={audience}/.default`; Entra grants an app every application permission of an API
 *   in one `.default` request, so a scope list beside an audience is a `TypeError`;
 * - Cognito: `scope={audience}/{scope}` for each scope (a scope with a `/` is already in that form);
 * - Zitadel: `urn:zitadel:iam:org:project:id:{audience}:aud` added to the scopes;
 * - Okta, Keycloak, Asgardeo: the scopes only (the API follows from the authorization server).
 * A request written in the provider's own form is sent as written.
 *
 * @throws TypeError when the target cannot be expressed for this provider.
 */
export function targetParams(target: Target, style: TargetStyle): Array<[string, string]> {
  const { audience } = target;
  let scope = target.scope;
  switch (style.scopeTarget) {
    case "entra": {
      if (scope.some((s) => s.endsWith("/.default"))) break;
      if (audience === undefined) {
        throw new TypeError(
          "provider entra: getToken needs an audience (the API's Application ID URI or app id); it is sent as scope={audience}/.default",
        );
      }
      if (scope.length > 0) {
        throw new TypeError(
          "provider entra: pass { audience } without scope; Entra grants an app all the application permissions (app roles) it was given on the API through one {audience}/.default request, and the token's roles claim lists them",
        );
      }
      scope = [`${audience}${audience.endsWith("/") ? "" : "/"}.default`];
      break;
    }
    case "cognito":
      if (audience !== undefined) scope = scope.map((s) => (s.includes("/") ? s : `${audience}/${s}`));
      break;
    case "zitadel":
      if (audience !== undefined && !scope.includes(ZITADEL_AUDIENCE(audience))) {
        scope = [...scope, ZITADEL_AUDIENCE(audience)];
      }
      break;
    case undefined:
      break;
  }
  if (style.scopeTarget !== undefined && audience !== undefined && !scope.every((s) => SCOPE_TOKEN.test(s))) {
    throw new TypeError(
      `provider ${style.scopeTarget}: the audience is sent inside scope, so it must be a scope token (no spaces or quotes, RFC 6749 §3.3)`,
    );
  }
  const params: Array<[string, string]> = [];
  if (scope.length > 0) params.push(["scope", scope.join(" ")]);
  if (audience !== undefined && style.scopeTarget === undefined && style.audienceParam !== "none") {
    params.push([style.audienceParam, audience]);
  }
  return params;
}

/**
 * Turns call options into a target, its cache key and its request parameters. Memoized per (audience,
 * scope as given) for string scopes and the defaults, so a cache hit does no parsing or key building.
 */
export class TargetResolver {
  readonly #memo = new LRUCache<string, KeyedTarget & { endpoint: string }>({
    max: 256,
  });

  constructor(
    private readonly clientId: string,
    private readonly defaults: { audience: string | undefined; scope: string[] },
    private readonly style: TargetStyle,
  ) {}

  /** Checks the per-call options before any request (before discovery, too). */
  check(options: TargetOptions): void {
    const { audience, scope } = this.#read(options);
    targetParams({ audience, scope }, this.style);
  }

  /**
   * @param partition - Everything besides the target that decides which token is issued and who may
   *   use it (`CachePartition`): part of the key, so that another credential, tenant or DPoP key
   *   (another process's) is never served this client's tokens.
   */
  resolve(options: TargetOptions, endpointUrl: string, partition: string): KeyedTarget {
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
    if (memo && memo.endpoint === endpointUrl && memo.partition === partition) return memo;
    const { scope } = this.#read(options);
    const params = targetParams({ audience, scope }, this.style);
    const key = JSON.stringify([endpointUrl, this.clientId, audience ?? null, scope, partition]);
    const target = { audience, scope, key, params, endpoint: endpointUrl, partition };
    if (memoKey !== undefined) this.#memo.set(memoKey, target);
    return target;
  }

  #read(options: TargetOptions): Target {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("getToken options must be an object");
    }
    const audience = options.audience ?? this.defaults.audience;
    checkAudience(audience);
    const scope = options.scope === undefined ? this.defaults.scope : normalizeScope(options.scope, "scope");
    return { audience, scope };
  }
}
