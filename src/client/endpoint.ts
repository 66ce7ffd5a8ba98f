import { DiscoveryError } from "../errors.js";
import type { Clock } from "../lib/clock.js";
import { type AuthorizationServerMetadata, discover } from "../lib/discovery.js";
import type { FetchLike } from "../lib/http.js";
import type { Operation } from "../lib/instrumentation.js";
import { withRetry } from "../lib/retry.js";
import { requestScopedIo } from "../lib/runtime.js";
import { transportInfo } from "../lib/transport.js";
import {
  type AssertionStyle,
  type AuthMethod,
  type ClientAuthentication,
  clientAssertion,
  clientIdOnly,
  clientSecretBasic,
  clientSecretJwt,
  clientSecretPost,
  type PrivateKeyInput,
  privateKeyJwt,
  tlsClientAuth,
} from "../oauth/client-auth.js";
import type { ClientPreset } from "../providers.js";
import { assertionType } from "../workload/source.js";
import type { AssertionCredential } from "./assertion-credential.js";
import type { ClientEvent } from "./events.js";
import { mutualTlsTokenEndpoint } from "./mtls.js";
import type { NormalizedOptions } from "./normalize-options.js";
import type { Endpoint } from "./token-request.js";

/** The credentials a client authenticates with. */
export interface ClientCredentials {
  secret: string | undefined;
  privateKey: PrivateKeyInput | undefined;
  privateKeyAlg: string | undefined;
  keyId: string | undefined;
  /** A client assertion from a source (`clientAssertion`), read for every request. */
  assertion: AssertionCredential | undefined;
}

/**
 * DESIGN.md: `private_key_jwt` when a private key or a client assertion is given; `none` for a grant
 * without a client credential; otherwise the preset's; otherwise `client_secret_basic` if discovery
 * lists it (or lists nothing), else `client_secret_post`.
 */
export function chooseAuthMethod(
  options: NormalizedOptions,
  credentials: ClientCredentials,
  preset: ClientPreset | undefined,
  metadata: AuthorizationServerMetadata | undefined,
): AuthMethod {
  if (options.authMethod) return options.authMethod;
  if (credentials.privateKey !== undefined || credentials.assertion !== undefined) return "private_key_jwt";
  if (credentials.secret === undefined) return "none";
  if (preset) return preset.authMethod;
  const supported = metadata?.token_endpoint_auth_methods_supported;
  if (!supported || supported.length === 0 || supported.includes("client_secret_basic")) {
    return "client_secret_basic";
  }
  return "client_secret_post";
}

/**
 * The `aud` and `typ` of assertions the client signs: the options, else the preset's rule (the
 * provider's document), else draft-ietf-oauth-rfc7523bis (the issuer identifier, or the token
 * endpoint when only it is configured; `typ: client-authentication+jwt`).
 */
export function assertionStyle(options: NormalizedOptions, preset: ClientPreset | undefined): AssertionStyle {
  const audience =
    options.assertionAudience ??
    (options.issuer === undefined ? "tokenEndpoint" : (preset?.assertion.audience ?? "issuer"));
  const typ = options.assertionTyp ?? preset?.assertion.typ ?? true;
  return { audience, typ };
}

export function clientAuthentication(
  method: AuthMethod,
  options: NormalizedOptions,
  credentials: ClientCredentials,
  preset: ClientPreset | undefined,
): ClientAuthentication {
  const { clientId } = options;
  const secret = credentials.secret as string;
  switch (method) {
    case "client_secret_basic":
      return clientSecretBasic(clientId, secret);
    case "client_secret_post":
      return clientSecretPost(clientId, secret);
    case "client_secret_jwt":
      return clientSecretJwt(clientId, secret, assertionStyle(options, preset));
    case "private_key_jwt": {
      const { assertion } = credentials;
      if (assertion !== undefined) {
        const type = assertionType(assertion.source.kind);
        return clientAssertion(clientId, async ({ signal }) => ({
          value: (await assertion.take(signal ?? AbortSignal.timeout(options.timeoutMs))).value,
          type,
        }));
      }
      return privateKeyJwt(clientId, credentials.privateKey as PrivateKeyInput, {
        alg: credentials.privateKeyAlg,
        kid: credentials.keyId,
        style: assertionStyle(options, preset),
      });
    }
    case "tls_client_auth":
    case "self_signed_tls_client_auth":
      return tlsClientAuth(clientId);
    case "none":
      return clientIdOnly(clientId);
  }
}

/**
 * The token endpoint and client authentication: from `tokenEndpoint` at once, or discovered from the
 * issuer on first use. A discovered endpoint is kept; a failed discovery is not, so the next call
 * tries again. Concurrent callers share one discovery.
 */
export class EndpointResolver {
  #endpoint: Endpoint | undefined;
  #discovering: Promise<Endpoint> | undefined;
  #controller: AbortController | undefined;

  constructor(
    private readonly config: {
      options: NormalizedOptions;
      credentials: ClientCredentials;
      preset: ClientPreset | undefined;
      fetch: FetchLike;
      clock: Clock;
      emit: (event: ClientEvent) => void;
      /** Runs the discovery as one operation (instrumentation). */
      run: <T>(operation: Operation, work: () => Promise<T>) => Promise<T>;
    },
  ) {
    const { options } = config;
    if (options.tokenEndpoint) {
      this.#endpoint = this.#endpointAt(options.tokenEndpoint, undefined);
    }
  }

  /** The endpoint once known (configured or discovered). */
  get current(): Endpoint | undefined {
    return this.#endpoint;
  }

  /** Discovers the endpoint (one discovery in flight, with its own abort controller for `close`). */
  discover(): Promise<Endpoint> {
    if (this.#discovering) return this.#discovering;
    const { options, clock } = this.config;
    const controller = new AbortController();
    this.#controller = controller;
    const signal = controller.signal;
    const issuer = options.issuer as string;
    const started = clock.now();
    const promise = this.config
      .run({ kind: "discovery", issuer }, () =>
        withRetry(
          () =>
            discover(issuer, {
              fetch: this.config.fetch,
              timeoutMs: options.timeoutMs,
              allowInsecureHttp: options.allowInsecureHttp,
              signal,
            }),
          { policy: options.retry, clock, signal },
        ),
      )
      .then((metadata) => {
        if (typeof metadata.token_endpoint !== "string") {
          throw new DiscoveryError(`discovery of ${issuer} failed: the metadata has no token_endpoint`);
        }
        const endpoint = this.#endpointAt(metadata.token_endpoint, metadata);
        this.#endpoint = endpoint;
        this.config.emit({
          type: "discovery",
          issuer,
          tokenEndpoint: endpoint.url,
          durationMs: clock.now() - started,
        });
        return endpoint;
      })
      .finally(() => {
        if (this.#discovering === promise) this.#discovering = undefined;
        if (this.#controller === controller) this.#controller = undefined;
      });
    // On Workers the next request discovers on its own until one has succeeded.
    if (!requestScopedIo) this.#discovering = promise;
    promise.catch(() => {});
    return promise;
  }

  /** Aborts a discovery in flight (the client closing). */
  close(reason: unknown): void {
    try {
      this.#controller?.abort(reason);
    } catch {
      // Another request's controller on a request-scoped runtime: that discovery ends on its own.
    }
  }

  #endpointAt(tokenEndpoint: string, metadata: AuthorizationServerMetadata | undefined): Endpoint {
    const { options, credentials, preset, fetch } = this.config;
    const method = chooseAuthMethod(options, credentials, preset, metadata);
    const alias =
      metadata && mutualTlsTokenEndpoint(metadata, method, transportInfo(fetch), options.allowInsecureHttp);
    return {
      url: alias ?? tokenEndpoint,
      method,
      auth: clientAuthentication(method, options, credentials, preset),
    };
  }
}
