import {
  type DpopProof,
  type DpopProofVerifier,
  type DpopProofVerifierNow,
  rememberProofNow,
  verifyProofNow,
} from "../dpop/verify.js";
import {
  InsufficientScopeError,
  InvalidDpopProofError,
  InvalidTokenError,
  M2MError,
  ReplayStoreFullError,
  UseDpopNonceError,
} from "../errors.js";
import { checkBinding, checkConfirmation } from "../verify/confirmation.js";
import type { AuthResult, Verifier, VerifyCallOptions } from "../verify/options.js";
import { verifyNow } from "../verify/verifier.js";
import type { HttpAuthOptions } from "./config.js";
import { resourceMetadataUrl } from "./resource-metadata.js";

/**
 * The HTTP meaning of DPoP at a protected resource (RFC 9449 §7): the `DPoP` scheme with one `DPoP`
 * proof header, the `cnf.jkt` binding, and the challenges of §7.1 and §9. Adapters pass what they
 * read from their framework; `bearer.ts` calls in here when a verifier has `dpop`.
 */

/** What the DPoP check reads from a request besides `Authorization`. */
export interface DpopRequestParts {
  /** Every `DPoP` header value (more than one is refused). */
  dpop?: readonly string[] | undefined;
  /** HTTP method. */
  method?: string | undefined;
  /**
   * Builds the request's public URL, the one the client called (scheme, host, path), which the
   * proof's `htu` must equal (RFC 9449 §4.3). The adapters build it from `publicUrl`; a caller of
   * `authenticateRequest` builds it from its own configuration, not from headers a client chooses.
   */
  url?: (() => string) | undefined;
}

/** A `name="value"` attribute, quoted and escaped. */
function attribute(name: string, value: string): string {
  return `${name}="${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `WWW-Authenticate: DPoP algs="…"` with optional error attributes (RFC 9449 §7.1), the adapter's
 * `realm` and its `resource_metadata` (RFC 9728 §5.1).
 */
export function dpopChallenge(
  dpop: DpopProofVerifier,
  settings: Pick<HttpAuthOptions, "realm" | "resourceMetadata">,
  attributes: Record<string, string | undefined> = {},
): string {
  const parts: string[] = [];
  if (settings.realm !== undefined) parts.push(attribute("realm", settings.realm));
  for (const [name, value] of Object.entries(attributes))
    if (value !== undefined) parts.push(attribute(name, value));
  const metadata = resourceMetadataUrl(settings);
  if (metadata !== undefined) parts.push(attribute("resource_metadata", metadata));
  parts.push(attribute("algs", dpop.algorithms.join(" ")));
  return `DPoP ${parts.join(", ")}`;
}

/** An answer of the DPoP layer: status, error code, description and headers. */
export interface DpopFailure {
  status: number;
  error:
    | "invalid_request"
    | "invalid_token"
    | "invalid_dpop_proof"
    | "use_dpop_nonce"
    | "insufficient_scope"
    | "temporarily_unavailable";
  description: string;
  headers: Record<string, string>;
  cause: unknown;
}

/**
 * Maps an error met on the DPoP path (the request used the `DPoP` scheme) to its answer, or
 * `undefined` for errors that are not the DPoP layer's to answer.
 */
export function dpopFailure(
  error: unknown,
  dpop: DpopProofVerifier,
  settings: Pick<HttpAuthOptions, "realm" | "resourceMetadata">,
): DpopFailure | undefined {
  if (error instanceof UseDpopNonceError) {
    return {
      status: 401,
      error: "use_dpop_nonce",
      description: "Resource server requires nonce in DPoP proof",
      headers: {
        "www-authenticate": dpopChallenge(dpop, settings, {
          error: "use_dpop_nonce",
          error_description: "Resource server requires nonce in DPoP proof",
        }),
        "dpop-nonce": error.nonce,
      },
      cause: error,
    };
  }
  if (
    error instanceof ReplayStoreFullError ||
    (error instanceof M2MError && error.code === "ERR_STORE_UNAVAILABLE")
  ) {
    const seconds = error instanceof ReplayStoreFullError ? error.retryAfterSeconds : 5;
    return {
      status: 503,
      error: "temporarily_unavailable",
      description: "DPoP proofs cannot be checked right now",
      headers: { "retry-after": String(seconds) },
      cause: error,
    };
  }
  const [status, code] =
    error instanceof InvalidDpopProofError
      ? ([401, "invalid_dpop_proof"] as const)
      : error instanceof InvalidTokenError
        ? ([401, "invalid_token"] as const)
        : error instanceof InsufficientScopeError
          ? ([403, "insufficient_scope"] as const)
          : [undefined, undefined];
  if (status === undefined) return undefined;
  const description = (error as Error).message;
  const extra =
    error instanceof InsufficientScopeError
      ? { scope: error.requiredScopes.join(" ") }
      : ({} as Record<string, string>);
  return {
    status,
    error: code,
    description,
    headers: {
      "www-authenticate": dpopChallenge(dpop, settings, {
        error: code,
        error_description: description,
        ...extra,
      }),
    },
    cause: error,
  };
}

function jktOf(result: AuthResult): string | undefined {
  const cnf = result.claims.cnf as { jkt?: unknown } | undefined;
  return typeof cnf === "object" && cnf !== null && typeof cnf.jkt === "string" ? cnf.jkt : undefined;
}

/** Whether a verified token is DPoP-bound (`cnf.jkt`, RFC 9449 §6.1). */
export function isDpopBound(result: AuthResult): boolean {
  return jktOf(result) !== undefined;
}

/**
 * RFC 9449 §7.1: the proof (every request, also when the token comes from the verified-token cache),
 * the token with the proof key's thumbprint as its confirmation (the verifier checks `cnf.jkt`
 * against it), that the token is DPoP-bound at all, and only then the `jti` is remembered.
 * `call` builds the verify options from the proof key's thumbprint. Answers in the same tick (a
 * value, or a throw) when nothing has to wait: a proof checked with node:crypto, a cached token, a
 * replay store that answers synchronously; otherwise a promise.
 */
export function verifyDpopRequest(
  verifier: Verifier,
  dpop: DpopProofVerifier,
  token: string,
  parts: DpopRequestParts,
  call: (jkt: string) => VerifyCallOptions | undefined,
): AuthResult | Promise<AuthResult> {
  if (!parts.method || !parts.url) {
    throw new TypeError("DPoP needs the request method and URL from the adapter");
  }
  const request = { proof: parts.dpop, method: parts.method, url: parts.url(), accessToken: token };
  const now = (dpop as DpopProofVerifierNow)[verifyProofNow];
  const proof = now ? now(request) : dpop.verify(request);
  return proof instanceof Promise
    ? proof.then((checked) => verifyBound(verifier, dpop, token, checked, call))
    : verifyBound(verifier, dpop, token, proof, call);
}

function verifyBound(
  verifier: Verifier,
  dpop: DpopProofVerifier,
  token: string,
  proof: DpopProof,
  call: (jkt: string) => VerifyCallOptions | undefined,
): AuthResult | Promise<AuthResult> {
  const options = call(proof.thumbprint);
  const now = (
    verifier as { [verifyNow]?: (t: string, o?: VerifyCallOptions) => AuthResult | Promise<AuthResult> }
  )[verifyNow];
  const outcome = now ? now.call(verifier, token, options) : verifier.verify(token, options);
  const bound = (result: AuthResult): AuthResult | Promise<AuthResult> => {
    // The DPoP scheme is for DPoP-bound tokens only (RFC 9449 §7.1).
    if (jktOf(result) === undefined) {
      throw new InvalidTokenError("ERR_DPOP_BINDING", "the access token is not DPoP-bound");
    }
    // Again here, for a Verifier that is not createVerifier's (the interface is open to implement).
    checkBinding(result.claims, checkConfirmation(options?.confirmation), true);
    const remember = (dpop as DpopProofVerifierNow)[rememberProofNow];
    const remembered = remember ? remember(proof) : dpop.remember(proof);
    return remembered instanceof Promise ? remembered.then(() => result) : result;
  };
  return outcome instanceof Promise ? outcome.then(bound) : bound(outcome);
}
