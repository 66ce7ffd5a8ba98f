import type { DpopProofVerifier } from "../dpop/verify.js";
import { InsufficientScopeError } from "../errors.js";
import { knownOptions } from "../lib/option-names.js";
import { checkBinding } from "../verify/confirmation.js";
import { type AuthResult, type Verifier, type VerifyCallOptions, verifyNow } from "../verify/verifier.js";
import { failure, HttpAuthError, httpAuthErrorOf, m2mCode } from "./auth-error.js";
import { certificateBinding } from "./certificate-binding.js";
import { type HttpAuthOptions, httpAuthSettings } from "./config.js";
import { dpopChallenge, dpopFailure, verifyDpopRequest } from "./dpop.js";
import {
  B64TOKEN,
  checkRequestNames,
  findBearerToken,
  malformedToken,
  REQUEST_CREDENTIALS_NAMES,
  type RequestCredentials,
  singleAuthorization,
  splitCredentials,
} from "./request-credentials.js";
import { resourceMetadataOf, withResourceMetadata } from "./resource-metadata.js";

/**
 * The HTTP meaning of bearer-token authentication (RFC 6750), written once. Every framework adapter
 * only translates {@link authenticateRequest} and {@link HttpAuthError} into its own terms.
 */

/**
 * Authenticates one request: extracts the token, verifies it, checks scopes. Resolves with the
 * result, with `undefined` (optional auth, no credentials), or rejects with an {@link HttpAuthError}
 * (or an unexpected error as it is). Options inherited from a prototype count as own ones.
 *
 * @throws rejects with a TypeError for an option it does not know (`requiredScope`, which would
 *   otherwise let every token through), a bad option value, or a request part it does not know.
 */
export async function authenticateRequest(
  verifier: Verifier,
  request: RequestCredentials,
  options: HttpAuthOptions = {},
): Promise<AuthResult | undefined> {
  const settings = httpAuthSettings(options, WHERE);
  checkRequestNames(request, WHERE);
  return authenticateNow(
    verifier,
    knownOptions(request, [REQUEST_CREDENTIALS_NAMES]),
    resolvedSettings(verifier, settings),
  );
}

const WHERE = "authenticateRequest()";

/** {@link authenticateRequest} for an adapter, whose settings and request are checked already. */
export async function authenticateChecked(
  verifier: Verifier,
  request: RequestCredentials,
  settings: HttpAuthOptions,
): Promise<AuthResult | undefined> {
  return authenticateNow(verifier, request, resolvedSettings(verifier, settings));
}

const resolved = new WeakMap<HttpAuthOptions, { verifier: Verifier; settings: HttpAuthOptions }>();

/** `options` with `resourceMetadata` resolved for `verifier`, once per options object and verifier. */
function resolvedSettings(verifier: Verifier, options: HttpAuthOptions): HttpAuthOptions {
  // Adapters' settings carry it resolved already.
  if (options?.resourceMetadata === undefined || resourceMetadataOf(options)) return options;
  const known = resolved.get(options);
  if (known?.verifier === verifier) return known.settings;
  const settings = withResourceMetadata(verifier, options, WHERE);
  resolved.set(options, { verifier, settings });
  return settings;
}

type Outcome = AuthResult | undefined;

const calls = new WeakMap<HttpAuthOptions, VerifyCallOptions | undefined>();

/** The per-call verify options of an adapter's settings, built once per settings object. */
function callOptions(options: HttpAuthOptions): VerifyCallOptions | undefined {
  if (options.requiredScopes === undefined) return undefined;
  let call = calls.get(options);
  if (!call) {
    call = { requiredScopes: options.requiredScopes };
    calls.set(options, call);
  }
  return call;
}

/**
 * The verify options of one request: the settings' scopes, the request's `waitUntil`, and what the
 * request proved for a sender-constrained token (`confirmation`: the thumbprint of its client
 * certificate, of its DPoP proof key). A request that proved nothing refuses every bound token.
 */
function requestCall(
  options: HttpAuthOptions,
  request: RequestCredentials,
  x5t: string | undefined,
  jkt?: string,
): VerifyCallOptions | undefined {
  const shared = callOptions(options);
  if (request.waitUntil === undefined && x5t === undefined && jkt === undefined) return shared;
  return {
    ...shared,
    ...(request.waitUntil !== undefined && { waitUntil: request.waitUntil }),
    ...((x5t !== undefined || jkt !== undefined) && { confirmation: { jkt, "x5t#S256": x5t } }),
  };
}

/**
 * The `x5t#S256` of the client certificate the request was made with (RFC 8705 §3.1), when the
 * adapter can see one: a value, or a promise while its hash is computed. A certificate header that
 * cannot be read (`ERR_CERTIFICATE_HEADER`) counts as none here and is kept in `read.unreadable`:
 * it is the answer only for a token bound to a certificate, so an unbound token is not refused
 * because of a header it does not need.
 */
function presentedCertificate(
  request: RequestCredentials,
  read: { unreadable?: unknown },
): string | undefined | Promise<string | undefined> {
  const unreadable = (error: unknown): undefined => {
    if (m2mCode(error) !== "ERR_CERTIFICATE_HEADER") throw error;
    read.unreadable = error;
    return undefined;
  };
  try {
    const x5t = request.clientCertificate?.();
    return x5t instanceof Promise ? x5t.catch(unreadable) : x5t;
  } catch (error) {
    return unreadable(error);
  }
}

/** The refusal to answer: a missing certificate of a bound token is explained by an unreadable header. */
function explained(error: unknown, read: { unreadable?: unknown }): unknown {
  return read.unreadable !== undefined && m2mCode(error) === "ERR_CERTIFICATE_BINDING"
    ? read.unreadable
    : error;
}

/**
 * {@link authenticateRequest} for adapters: answers in the same tick when the token is in the
 * verified-token cache (a value, or a throw), and returns a promise only when it must wait.
 */
export function authenticateNow(
  verifier: Verifier,
  request: RequestCredentials,
  options: HttpAuthOptions = {},
): Outcome | Promise<Outcome> {
  const dpop = verifier.dpop;
  return dpop
    ? authenticateWithDpop(verifier, dpop, request, options)
    : authenticateBearer(verifier, request, options);
}

/**
 * RFC 9449 §7: the `DPoP` scheme goes through the proof check (http/dpop.ts); Bearer goes the usual
 * way, unless `required`, and a DPoP-bound token sent as Bearer is refused (§7.2). Every challenge
 * names DPoP with its `algs` (beside Bearer when Bearer is accepted too).
 */
function authenticateWithDpop(
  verifier: Verifier,
  dpop: DpopProofVerifier,
  request: RequestCredentials,
  options: HttpAuthOptions,
): Outcome | Promise<Outcome> {
  const header = singleAuthorization(request, options) ?? "";
  const [scheme, rest] = header === "" ? ["", ""] : splitCredentials(header);
  const other =
    (request.queryTokens?.length ?? 0) + (options.allowBodyToken ? (request.bodyTokens?.length ?? 0) : 0);
  const withDpop = (error: HttpAuthError): HttpAuthError => {
    const bearer = error.headers["www-authenticate"];
    if (bearer === undefined) return error;
    const headers = { ...error.headers };
    const offer = dpopChallenge(dpop, options);
    headers["www-authenticate"] =
      dpop.required && error.error === "unauthorized" ? offer : `${bearer}, ${offer}`;
    return new HttpAuthError(error.status, error.error, error.errorDescription, headers, {
      cause: error.cause,
    });
  };
  if (scheme === "dpop") {
    if (rest === "" || !B64TOKEN.test(rest) || other > 0) {
      const description =
        other > 0
          ? "the access token was sent by more than one method"
          : "the Authorization header has no valid DPoP token";
      throw withDpop(failure(400, "invalid_request", description, options));
    }
    // RFC 8705 §3 holds whatever the scheme: a token bound to a certificate (too) needs that certificate.
    // In the same tick when nothing has to wait (see verifyDpopRequest).
    const read: { unreadable?: unknown } = {};
    const refuse = (thrown: unknown): never => {
      const error = explained(thrown, read);
      const answer = dpopFailure(error, dpop, options);
      if (!answer) throw httpAuthErrorOf(error, options);
      throw new HttpAuthError(answer.status, answer.error, answer.description, answer.headers, {
        cause: error,
      });
    };
    const verify = (x5t: string | undefined): Outcome | Promise<Outcome> => {
      const auth = verifyDpopRequest(verifier, dpop, rest, request, (jkt) =>
        requestCall(options, request, x5t, jkt),
      );
      return auth instanceof Promise
        ? auth.then((result) =>
            certificateBinding(result, () => x5t, options.requireCertificateBoundTokens === true),
          )
        : certificateBinding(auth, () => x5t, options.requireCertificateBoundTokens === true);
    };
    try {
      const x5t = presentedCertificate(request, read);
      const outcome = x5t instanceof Promise ? x5t.then(verify) : verify(x5t);
      return outcome instanceof Promise ? outcome.catch(refuse) : outcome;
    } catch (thrown) {
      return refuse(thrown);
    }
  }
  if (dpop.required) {
    if (scheme !== "bearer" && other === 0) {
      if (options.optional) return undefined;
      throw new HttpAuthError(401, "unauthorized", "authentication is required", {
        "www-authenticate": dpopChallenge(dpop, options),
      });
    }
    const description = "this API accepts DPoP-bound access tokens only";
    throw new HttpAuthError(401, "invalid_token", description, {
      "www-authenticate": dpopChallenge(dpop, options, {
        error: "invalid_token",
        error_description: description,
      }),
    });
  }
  // A DPoP-bound token sent as Bearer (§7.2) is refused by the verifier: the call names no proof key.
  let outcome: Outcome | Promise<Outcome>;
  try {
    outcome = authenticateBearer(verifier, request, options);
  } catch (error) {
    throw error instanceof HttpAuthError ? withDpop(error) : error;
  }
  if (outcome instanceof Promise) {
    return outcome.catch((error: unknown) => {
      throw error instanceof HttpAuthError ? withDpop(error) : error;
    });
  }
  return outcome;
}

function authenticateBearer(
  verifier: Verifier,
  request: RequestCredentials,
  options: HttpAuthOptions,
): Outcome | Promise<Outcome> {
  const token = findBearerToken(request, options);
  if (token === undefined) {
    if (options.optional) return undefined;
    throw failure(401, "unauthorized", "authentication is required", options);
  }
  // A malformed credential is a bad request (400), whatever the verifier would say of it.
  const read: { unreadable?: unknown } = {};
  const refuse = (error: unknown) =>
    B64TOKEN.test(token) ? httpAuthErrorOf(explained(error, read), options) : malformedToken(options);
  let certificate: string | undefined | Promise<string | undefined>;
  try {
    certificate = presentedCertificate(request, read);
  } catch (error) {
    throw refuse(error);
  }
  if (certificate instanceof Promise) {
    return certificate
      .then((x5t) => verifyBearer(verifier, token, x5t, request, options))
      .catch((error: unknown) => {
        throw refuse(error);
      });
  }
  try {
    const outcome = verifyBearer(verifier, token, certificate, request, options);
    return outcome instanceof Promise
      ? outcome.catch((error: unknown) => {
          throw refuse(error);
        })
      : outcome;
  } catch (error) {
    throw refuse(error);
  }
}

/**
 * Verifies a bearer token, stating the request's client certificate (if any) as its confirmation;
 * then RFC 8705 `requireCertificateBoundTokens`. In the same tick when the token is cached.
 */
function verifyBearer(
  verifier: Verifier,
  token: string,
  x5t: string | undefined,
  request: RequestCredentials,
  options: HttpAuthOptions,
): AuthResult | Promise<AuthResult> {
  const call = requestCall(options, request, x5t);
  const now = (
    verifier as { [verifyNow]?: (t: string, o?: VerifyCallOptions) => AuthResult | Promise<AuthResult> }
  )[verifyNow];
  const outcome = now ? now.call(verifier, token, call) : verifier.verify(token, call);
  const settle = (auth: AuthResult) => {
    // Again here, for a Verifier that is not createVerifier's (the interface is open to implement).
    checkBinding(auth.claims, { jkt: undefined, x5t }, verifier.dpop !== undefined);
    return certificateBinding(auth, () => x5t, options.requireCertificateBoundTokens === true);
  };
  return outcome instanceof Promise ? outcome.then(settle) : settle(outcome);
}

/**
 * Checks scopes of an authenticated request (for `requireScopes` helpers); refusals carry the
 * challenge of the adapter's settings, in the scheme the request used: `DPoP` for a DPoP-bound token
 * (`cnf.jkt`, RFC 9449 §7.1), else `Bearer` (RFC 6750 §3.1).
 */
export function checkRequestScopes(
  auth: (Pick<AuthResult, "scopes"> & Partial<Pick<AuthResult, "claims">>) | undefined,
  scopes: readonly string[],
  anyOf: boolean,
  settings: HttpAuthOptions = {},
): void {
  if (!auth) throw failure(401, "unauthorized", "authentication is required", settings);
  const granted = auth.scopes;
  const ok = anyOf ? scopes.some((s) => granted.includes(s)) : scopes.every((s) => granted.includes(s));
  if (ok) return;
  const refusal = new InsufficientScopeError(scopes, granted, anyOf);
  const cnf = auth.claims?.cnf as { jkt?: unknown } | undefined;
  if (typeof cnf === "object" && cnf !== null && typeof cnf.jkt === "string") {
    const scope = refusal.requiredScopes.join(" ");
    throw failure(403, "insufficient_scope", refusal.message, settings, { scope }, refusal, "DPoP");
  }
  throw httpAuthErrorOf(refusal, settings);
}
