import type { DevApp } from "./config.js";
import type { Federation } from "./federation.js";
import { GRANT_TYPE_VALUES } from "./grants.js";
import type { SigningAlg } from "./signing-keys.js";

/**
 * oidc-provider's storage for issued tokens, in memory. Passing one (rather than relying on its built-in
 * quick-start adapter) keeps it from warning that a development adapter is in use, which a dev server
 * wants; the host process's `console` is left alone.
 */
export function memoryAdapter() {
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  return class DevAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string) {
      return `${this.#model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn: number) {
      if (store.size > 10_000) {
        const now = Date.now();
        for (const [key, entry] of store) if (entry.expiresAt <= now) store.delete(key);
      }
      store.set(this.#key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
    }
    async find(id: string) {
      const entry = store.get(this.#key(id));
      if (!entry || entry.expiresAt <= Date.now()) return undefined;
      return entry.payload;
    }
    async findByUid() {
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const entry = store.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId() {}
  };
}

/** Discovery fields about flows this server does not serve (it has no authorization endpoint). */
export const UNSERVED_METADATA = [
  "authorization_endpoint",
  "authorization_response_iss_parameter_supported",
  "claim_types_supported",
  "claims_parameter_supported",
  "claims_supported",
  "code_challenge_methods_supported",
  "end_session_endpoint",
  "id_token_signing_alg_values_supported",
  "request_parameter_supported",
  "pushed_authorization_request_endpoint",
  "request_uri_parameter_supported",
  "require_pushed_authorization_requests",
  "response_modes_supported",
  "subject_types_supported",
  "userinfo_endpoint",
  "userinfo_signing_alg_values_supported",
];

/**
 * oidc-provider metadata of an app. `idTokenAlg` is an algorithm the server has a key for: this server
 * issues no ID tokens, but oidc-provider checks every client's `id_token_signed_response_alg` (default
 * RS256) against its keys, and refuses the client when no key signs it.
 */
export function clientMetadata(app: DevApp, idTokenAlg: SigningAlg): Record<string, unknown> {
  const method = app.authMethod ?? (app.jwks ? "private_key_jwt" : "client_secret_basic");
  return {
    client_id: app.clientId,
    id_token_signed_response_alg: idTokenAlg,
    ...(app.clientSecret ? { client_secret: app.clientSecret } : {}),
    ...(app.jwks ? { jwks: app.jwks } : {}),
    token_endpoint_auth_method: method,
    ...(app.dpop ? { dpop_bound_access_tokens: true } : {}),
    grant_types: (app.grantTypes ?? ["client_credentials"]).map((type) => GRANT_TYPE_VALUES[type]),
    response_types: [],
    redirect_uris: [],
  };
}

/**
 * An app with federated credentials authenticates at oidc-provider with assertions the dev server
 * signs for it: their key joins the app's own keys.
 */
export function withFederation(metadata: Record<string, unknown>, app: DevApp, federation: Federation) {
  if (!app.federated) return metadata;
  return {
    ...metadata,
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [...(app.jwks?.keys ?? []), federation.publicJwk] },
  };
}
