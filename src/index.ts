export type { AssertionAudience, AuthMethod, PrivateKeyInput } from "./client/auth.js";
export {
  ClientCredentialsClient,
  type ClientFetchInit,
  type GetTokenOptions,
} from "./client/client.js";
export type { ClientCredentialsClientOptions, ClientEvent } from "./client/options.js";
export type { AudienceParam, ProviderName } from "./client/providers.js";
export { MemoryTokenStore, type TokenStore } from "./client/store.js";
export { AccessToken, type StoredToken } from "./client/token.js";
export {
  ClientClosedError,
  DiscoveryError,
  M2MError,
  type M2MErrorCode,
  OAuthError,
  type OAuthErrorBody,
  TokenRequestError,
} from "./errors.js";
export type { Clock } from "./lib/clock.js";
export type { AuthorizationServerMetadata } from "./lib/discovery.js";
export type { FetchLike } from "./lib/http.js";
export type { RetryOptions } from "./lib/retry.js";
