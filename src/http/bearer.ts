import type { DpopProofVerifier } from "../dpop/verify.js";
import {
  ClaimPolicyError,
  InsufficientScopeError,
  InvalidTokenError,
  M2MError,
  VerifierUnavailableError,
} from "../errors.js";
import { checkOptionNames, knownOptions, type NameList, type OptionNames } from "../lib/option-names.js";
import type { WaitUntil } from "../lib/runtime.js";
import { checkBinding } from "../verify/confirmation.js";
import { emitTo } from "../verify/events.js";
import { type AuthResult, type Verifier, type VerifyCallOptions, verifyNow } from "../verify/verifier.js";
import {
  CERTIFICATE_BINDING_OPTION_NAMES,
  type ClientCertificateSource,
  certificateBinding,
} from "./certificate-binding.js";
import { checkHttpAuthOptions, HTTP_AUTH_OPTION_NAMES, type HttpAuthOptions } from "./config.js";
import { type DpopRequestParts, dpopChallenge, dpopFailure, verifyDpopRequest } from "./dpop.js";
import { resourceMetadataOf, resourceMetadataUrl, withResourceMetadata } from "./resource-metadata.js";

export type { AuthConfig, HttpAuthOptions } from "./config.js";

/**
 * The HTTP meaning of bearer-token authentication (RFC 6750), written once. Every framework adapter
 * only translates {@link authenticateRequest} and {@link HttpAuthError} into its own terms.
 */

/**
 * The `error` of an RFC 6750 §3.1 challenge and JSON body: `invalid_request` (400), `invalid_token`
 * (401), `insufficient_scope` (403), `temporarily_unavailable` (503, keys unreachable),
 * `invalid_dpop_proof` and `use_dpop_nonce` (RFC 9449 §7.1, 401), and `unauthorized` for a request
 * with no credentials (401, a challenge with no error code, as §3.1 asks).
 */
export type HttpErrorCode =
  | "invalid_request"
  | "invalid_token"
  | "insufficient_scope"
  | "unauthorized"
  | "temporarily_unavailable"
  | "invalid_dpop_proof"
  | "use_dpop_nonce";

/** An authentication failure with its HTTP status, headers and body. */
export class HttpAuthError extends M2MError {
  /** The HTTP status to answer: 400, 401, 403 or 503. */
  readonly status: number;
  /** Alias of `status` for frameworks that read `statusCode`. */
  readonly statusCode: number;
  /** Headers to send: `WWW-Authenticate` (RFC 6750 §3), and `Retry-After` or `DPoP-Nonce` where they apply. */
  readonly headers: Record<string, string>;
  /** The RFC 6750 error code; `unauthorized` when no credentials were sent (no code in the challenge). */
  readonly error: HttpErrorCode;
  /** Human-readable `error_description`; never contains the token. */
  readonly errorDescription: string;

  constructor(
    status: number,
    error: HttpErrorCode,
    errorDescription: string,
    headers: Record<string, string>,
    options?: { cause?: unknown },
  ) {
    super(
      (options?.cause as M2MError | undefined)?.code ?? `ERR_HTTP_${error.toUpperCase()}`,
      errorDescription,
      options,
    );
    this.status = status;
    this.statusCode = status;
    this.error = error;
    this.errorDescription = errorDescription;
    this.headers = headers;
  }

  /** The JSON body `{ "error", "error_description" }`. */
  toJSON(): {
    /** The RFC 6750 error code. */
    error: string;
    /** Human-readable description, without the token. */
    error_description: string;
  } {
    return { error: this.error, error_description: this.errorDescription };
  }
}

/** What a request carries, read by the adapter from its framework (`dpop`, `method`, `url` for DPoP). */
export interface RequestCredentials extends DpopRequestParts {
  /**
   * The `Authorization` header, if any; every value when the request carries it more than once
   * (Node keeps only the first in `headers`: adapters read the raw headers).
   */
  authorization: string | readonly string[] | null | undefined;
  /** Values of the `access_token` query parameter. */
  queryTokens?: readonly string[];
  /** Values of `access_token` in a form-encoded body (read only when `allowBodyToken` is on). */
  bodyTokens?: readonly string[];
  /** The TLS client certificate the request was made with (RFC 8705 §3), when the adapter can see it. */
  clientCertificate?: ClientCertificateSource;
  /** The request's `waitUntil` (Workers `ctx.waitUntil`), for key-set refreshes it does not wait for. */
  waitUntil?: WaitUntil;
}

/** The names of {@link RequestCredentials}. */
const REQUEST_CREDENTIALS_NAMES: OptionNames<RequestCredentials> = {
  authorization: true,
  queryTokens: true,
  bodyTokens: true,
  clientCertificate: true,
  waitUntil: true,
  dpop: true,
  method: true,
  url: true,
};

const HTTP_AUTH_LISTS: readonly NameList[] = [HTTP_AUTH_OPTION_NAMES, CERTIFICATE_BINDING_OPTION_NAMES];

const checkedSettings = new WeakMap<object, HttpAuthOptions>();

/**
 * The options of a framework-free call (`authenticateRequest`, `extractBearerToken`, web
 * `errorResponse`) checked as an adapter checks its own: names (own and inherited) and types, once
 * per options object; returned as a plain object of the known names.
 */
export function httpAuthSettings(options: HttpAuthOptions, where: string): HttpAuthOptions {
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${where} options must be an object`);
  let settings = checkedSettings.get(options);
  if (settings === undefined) {
    checkOptionNames(options, HTTP_AUTH_LISTS, where, "");
    settings = knownOptions(options, HTTP_AUTH_LISTS);
    checkHttpAuthOptions(settings, where);
    checkedSettings.set(options, settings);
  }
  return settings;
}

/** RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Splits `Authorization` into its scheme (lower case) and the rest after 1*SP (RFC 9110 §11.4). */
function splitCredentials(header: string): [scheme: string, rest: string] {
  const space = header.indexOf(" ");
  if (space === -1) return [header.toLowerCase(), ""];
  let start = space + 1;
  while (header.charCodeAt(start) === 32) start++;
  return [header.slice(0, space).toLowerCase(), header.slice(start)];
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3), every attribute quoted and escaped. */
export function bearerChallenge(
  realm: string | undefined,
  attributes: Record<string, string | undefined> = {},
): string {
  const parts: string[] = [];
  if (realm !== undefined) parts.push(`realm=${quote(realm)}`);
  for (const [name, value] of Object.entries(attributes))
    if (value !== undefined) parts.push(`${name}=${quote(value)}`);
  return parts.length ? `Bearer ${parts.join(", ")}` : "Bearer";
}

/**
 * The settings a challenge is built from: `realm`, and, once resolved (`withResourceMetadata`), the
 * metadata URL every challenge carries (RFC 9728 §5.1).
 */
type ChallengeSettings = Pick<HttpAuthOptions, "realm" | "resourceMetadata">;

function failure(
  status: number,
  error: HttpErrorCode,
  description: string,
  settings: ChallengeSettings,
  extra: Record<string, string | undefined> = {},
  cause?: unknown,
): HttpAuthError {
  const headers: Record<string, string> = {};
  if (status === 503) {
    headers["retry-after"] = "30";
  } else {
    // No credentials: a bare challenge, no error attribute (RFC 6750 §3.1).
    const attributes = error === "unauthorized" ? {} : { error, error_description: description, ...extra };
    headers["www-authenticate"] = bearerChallenge(settings.realm, {
      ...attributes,
      resource_metadata: resourceMetadataUrl(settings),
    });
  }
  return new HttpAuthError(status, error, description, headers, { cause });
}

/**
 * Finds the bearer token of a request. Returns the token, `undefined` when there are no bearer
 * credentials (another scheme counts as none), or throws an {@link HttpAuthError}.
 *
 * @throws TypeError for an option or a request part it does not know (`allowQueryTokens`), or a bad
 *   option value, as the adapters refuse theirs.
 */
export function extractBearerToken(
  request: RequestCredentials,
  options: HttpAuthOptions = {},
): string | undefined {
  const settings = httpAuthSettings(options, "extractBearerToken()");
  checkRequestNames(request, "extractBearerToken()");
  const token = findBearerToken(request, settings);
  if (token !== undefined && !B64TOKEN.test(token)) throw malformedToken(settings);
  return token;
}

/** The request's names: a misspelt one (`clientCertifcate`) is never a part left unchecked. */
function checkRequestNames(request: RequestCredentials, where: string): void {
  if (typeof request !== "object" || request === null)
    throw new TypeError(`${where}: the request must be an object`);
  checkOptionNames(request, [REQUEST_CREDENTIALS_NAMES], `${where} (the request)`);
}

function malformedToken(settings: ChallengeSettings): HttpAuthError {
  return failure(400, "invalid_request", "the Authorization header has no valid bearer token", settings);
}

/** The one `Authorization` header (RFC 6750 §2: one credential per request; two fields are a 400). */
function singleAuthorization(request: RequestCredentials, settings: ChallengeSettings): string | undefined {
  const header = request.authorization ?? undefined;
  if (typeof header === "string" || header === undefined) return header;
  if (header.length > 1) {
    throw failure(400, "invalid_request", "the request has more than one Authorization header", settings);
  }
  return header[0];
}

/**
 * {@link extractBearerToken} without the charset check of the token itself, which is deferred to the
 * failure path: a token that verifies is a JWS, whose characters are all b64token characters.
 */
function findBearerToken(request: RequestCredentials, options: HttpAuthOptions): string | undefined {
  const header = singleAuthorization(request, options);
  const query = request.queryTokens ?? [];
  let fromHeader: string | undefined;
  if (header !== undefined && header !== "") {
    const [scheme, rest] = splitCredentials(header);
    if (scheme === "bearer") {
      if (rest === "") throw malformedToken(options);
      fromHeader = rest;
    } else if (scheme === "dpop") {
      throw failure(
        401,
        "invalid_token",
        "this API is not configured for DPoP-bound access tokens (dpop option)",
        options,
      );
    }
    // Any other scheme (Basic, …) is not a bearer credential: answered like no credentials.
  }
  // RFC 6750 §2: a client must not use more than one method in one request.
  const body = options.allowBodyToken ? (request.bodyTokens ?? []) : [];
  const sent = (fromHeader === undefined ? 0 : 1) + query.length + body.length;
  if (sent > 1 && (query.length > 0 || body.length > 0)) {
    throw failure(400, "invalid_request", "the access token was sent by more than one method", options);
  }
  if (fromHeader !== undefined) return fromHeader;
  const other = query.length === 1 && options.allowQueryToken ? query[0] : body[0];
  if (other !== undefined) {
    if (!B64TOKEN.test(other))
      throw failure(400, "invalid_request", "the access_token parameter is not valid", options);
    return other;
  }
  return undefined;
}

/** The stable `code` of an m2m-kit error from any copy of the package (ESM or CommonJS build). */
function m2mCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_") ? code : undefined;
}

/**
 * Maps a verification failure to its HTTP answer (RFC 6750 §3.1). Errors are recognised by their
 * stable `code`, so a verifier from the other build (ESM/CommonJS) maps the same. Other errors are
 * returned as they are.
 */
export function toHttpAuthError(error: unknown, realm?: string): HttpAuthError | unknown {
  return httpAuthErrorOf(error, { realm });
}

/** {@link toHttpAuthError} with the challenge of an adapter's settings. */
function httpAuthErrorOf(error: unknown, settings: ChallengeSettings): HttpAuthError | unknown {
  if (error instanceof HttpAuthError) return error;
  const code = m2mCode(error);
  if (code === undefined) return error;
  const message = (error as Error).message;
  if (
    error instanceof InvalidTokenError ||
    code.startsWith("ERR_JWT_") ||
    code === "ERR_JWKS_NO_MATCHING_KEY" ||
    code === "ERR_TOKEN_INACTIVE"
  ) {
    return failure(401, "invalid_token", message, settings, {}, error);
  }
  if (error instanceof InsufficientScopeError || code === "ERR_INSUFFICIENT_SCOPE") {
    const required = (error as { requiredScopes?: unknown }).requiredScopes;
    const scope = Array.isArray(required) ? required.join(" ") : undefined;
    return failure(403, "insufficient_scope", message, settings, { scope }, error);
  }
  if (error instanceof ClaimPolicyError || code === "ERR_CLAIM_POLICY") {
    return failure(403, "insufficient_scope", message, settings, {}, error);
  }
  if (error instanceof VerifierUnavailableError || code === "ERR_VERIFIER_UNAVAILABLE") {
    return failure(
      503,
      "temporarily_unavailable",
      "access tokens cannot be checked right now",
      settings,
      {},
      error,
    );
  }
  return error;
}

/** Reports a refusal to `onEvent` (nothing when there is no listener). */
export function reportRefusal(error: unknown, options: HttpAuthOptions): void {
  if (options.onEvent === undefined || !(error instanceof HttpAuthError)) return;
  emitTo(options.onEvent, {
    type: "request_refused",
    status: error.status,
    error: error.error,
    code: error.code,
    cause: error.cause,
  });
}

/** The response body and content type for an error, through the `errorBody` hook if given. */
export function errorResponseBody(
  error: HttpAuthError,
  options: HttpAuthOptions = {},
): { contentType: string; body: string } {
  reportRefusal(error, options);
  if (options.errorBody) {
    const shaped = options.errorBody(error);
    if (typeof shaped?.body !== "string" || typeof shaped.contentType !== "string") {
      throw new TypeError("errorBody must return { contentType: string, body: string }");
    }
    return shaped;
  }
  return { contentType: "application/json", body: JSON.stringify(error.toJSON()) };
}

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
 * challenge of the adapter's settings.
 */
export function checkRequestScopes(
  auth: Pick<AuthResult, "scopes"> | undefined,
  scopes: readonly string[],
  anyOf: boolean,
  settings: HttpAuthOptions = {},
): void {
  if (!auth) throw failure(401, "unauthorized", "authentication is required", settings);
  const granted = auth.scopes;
  const ok = anyOf ? scopes.some((s) => granted.includes(s)) : scopes.every((s) => granted.includes(s));
  if (!ok) throw httpAuthErrorOf(new InsufficientScopeError(scopes, granted, anyOf), settings);
}
