export type {
  ClientFetchInit,
  DpopProofOptions,
  ExchangeTokenOptions,
  GetTokenOptions,
  InvalidateOptions,
} from "./client/call-options.js";
export { ClientCredentialsClient } from "./client/client.js";
export type { ClientDpopOption } from "./client/dpop.js";
export type { ClientEvent } from "./client/events.js";
export type { GrantOption } from "./client/grants/option.js";
export type { TokenExchangeTokens, TokenTypeUri } from "./client/grants/token-exchange.js";
export type { ClientCredentialsClientOptions } from "./client/options.js";
export {
  type MaybePromise,
  MemoryTokenStore,
  type TokenLease,
  type TokenStore,
  type TokenWriteContext,
} from "./client/store.js";
export { AccessToken, type StoredToken } from "./client/token.js";
export {
  accessTokenHash,
  createDpopNonce,
  createDpopProof,
  createDpopProofVerifier,
  createMemoryReplayStore,
  DPOP_ALGORITHMS,
  type DpopAlgorithm,
  type DpopKey,
  type DpopNonceOptions,
  type DpopNonceSource,
  type DpopOptions,
  type DpopPrivateKeyInput,
  type DpopProof,
  type DpopProofInput,
  type DpopProofVerifier,
  type DpopPublicKeyInput,
  type DpopRequest,
  generateDpopKey,
  importDpopKey,
  type MemoryReplayStore,
  type MemoryReplayStoreOptions,
  normalizeHtu,
  type ReplayStore,
} from "./dpop/index.js";
export {
  type AssertionParameter,
  type AssertionProblem,
  ClaimPolicyError,
  ClientAssertionError,
  ClientClosedError,
  DiscoveryError,
  type DpopProofCode,
  InsufficientScopeError,
  InvalidDpopProofError,
  type InvalidTokenCode,
  InvalidTokenError,
  M2MError,
  type M2MErrorCode,
  MissingPeerDependencyError,
  OAuthError,
  type OAuthErrorBody,
  ReplayStoreFullError,
  StoreUnavailableError,
  TokenRequestError,
  UseDpopNonceError,
  VerifierUnavailableError,
} from "./errors.js";
export {
  bearerChallenge,
  HttpAuthError,
  type HttpErrorCode,
  toHttpAuthError,
} from "./http/auth-error.js";
export { authenticateRequest } from "./http/bearer.js";
export {
  type CertificateBindingOptions,
  type ClientCertificateSource,
  certificateThumbprint,
  checkCertificateBinding,
  parseClientCertificateHeader,
} from "./http/certificate-binding.js";
export type { AuthConfig, HttpAuthOptions } from "./http/config.js";
export { extractBearerToken, type RequestCredentials } from "./http/request-credentials.js";
export type { ProtectedResourceMetadata, ResourceMetadataOptions } from "./http/resource-metadata.js";
export type { Clock } from "./lib/clock.js";
export type { AuthorizationServerMetadata } from "./lib/discovery.js";
export type { FetchLike } from "./lib/http.js";
export {
  DEFAULT_EVENT_LEVELS,
  type EventLogger,
  type LogEventsOptions,
  type LogLevel,
  logEvents,
} from "./lib/log-events.js";
export type { RetryOptions } from "./lib/retry.js";
export type { WaitUntil } from "./lib/runtime.js";
export type { AssertionAudience, AuthMethod, PrivateKeyInput } from "./oauth/client-auth.js";
export type { AudienceParam, ProviderName } from "./providers.js";
export { ASYMMETRIC_ALGS, type VerifyAlgorithm } from "./verify/algorithms.js";
export type { IntrospectionOptions } from "./verify/introspection.js";
export type { JwksOptions } from "./verify/jwks.js";
export type { KeyValueStore } from "./verify/key-value-store.js";
export { verifyAccessToken } from "./verify/shared-verifiers.js";
export {
  type Actor,
  type AllowedActor,
  type AuthResult,
  type ClaimRule,
  type Confirmation,
  createVerifier,
  type DelegationMode,
  type IssuerOptions,
  type IssuerResolver,
  type JwksState,
  type ScopeRequirement,
  type SharedVerifierOptions,
  type Verifier,
  type VerifierEvent,
  type VerifierEventListener,
  type VerifierOptions,
  type VerifyCallOptions,
} from "./verify/verifier.js";
export {
  type GithubActionsAssertionOptions,
  githubActionsAssertion,
} from "./workload/github-actions.js";
export {
  type AssertionContext,
  type AssertionInput,
  type AssertionKind,
  type AssertionSource,
  JWT_BEARER_ASSERTION_TYPE,
  JWT_SPIFFE_ASSERTION_TYPE,
} from "./workload/source.js";
