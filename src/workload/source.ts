/**
 * Where a workload's identity token comes from: a small object with one async method, chosen once and
 * asked on every token request (as `@azure/identity` credentials and Duende's
 * `IClientAssertionService` are).
 */
import { ClientAssertionError } from "../errors.js";

/** `client_assertion_type` of a JWT (RFC 7523 §2.2). */
export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** `client_assertion_type` of a SPIFFE JWT-SVID (draft-ietf-oauth-spiffe-client-auth). */
export const JWT_SPIFFE_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/**
 * The kind of assertion a source hands out: `"jwt-bearer"` (a JWT, RFC 7523: Kubernetes projected
 * service-account tokens, GitHub Actions and cloud OIDC tokens) or `"jwt-spiffe"` (a SPIFFE JWT-SVID,
 * draft-ietf-oauth-spiffe-client-auth). It picks the `client_assertion_type` sent with it.
 */
export type AssertionKind = "jwt-bearer" | "jwt-spiffe";

/** What a source is told when it is asked for an assertion. */
export interface AssertionContext {
  /** Aborted when every caller waiting for the token request gave up, or the client closed. */
  signal: AbortSignal;
}

/**
 * A source of short-lived assertions (JWTs) issued by the workload's platform: a Kubernetes projected
 * service-account token file, GitHub Actions' OIDC endpoint, a cloud's workload identity, a SPIFFE
 * JWT-SVID. The client calls `getAssertion` for every token request (platform tokens rotate) and never
 * keeps, logs or reports what it returns.
 *
 * @example
 * ```ts
 * const source: AssertionSource = {
 *   description: "vault-agent sink /run/vault/jwt",
 *   getAssertion: async () => (await readFile("/run/vault/jwt", "utf8")).trim(),
 * };
 * new ClientCredentialsClient({ issuer, clientId, clientAssertion: source });
 * ```
 */
export interface AssertionSource {
  /**
   * The current assertion: a compact JWT. Throwing (or rejecting) fails the token request with a
   * `ClientAssertionError` that names {@link AssertionSource.description}, with what was thrown as its
   * `cause` (so it should not quote what it read); an error with `transient: true` is retried like a
   * network error.
   */
  getAssertion(context: AssertionContext): Promise<string>;
  /**
   * What the source is, for messages: a path, a URL without its query, a name. Never the assertion or
   * a credential used to get it. Default: `"clientAssertion source"`.
   */
  readonly description?: string;
  /** The kind of assertion (see {@link AssertionKind}). Default `"jwt-bearer"`. */
  readonly kind?: AssertionKind;
}

/**
 * What the `clientAssertion` option (and a grant's `assertion` or `subjectToken`) accepts: an
 * assertion itself (one value, used until it expires), a function called for every token request,
 * or an {@link AssertionSource}.
 */
export type AssertionInput = string | (() => string | Promise<string>) | AssertionSource;

/** A source with its description and kind filled in. */
export interface ResolvedSource {
  read(context: AssertionContext): Promise<string>;
  description: string | undefined;
  kind: AssertionKind;
  /** A fixed value: it is read once, and its identity never changes. */
  fixed: boolean;
}

const KINDS: readonly AssertionKind[] = ["jwt-bearer", "jwt-spiffe"];

/**
 * Checks an {@link AssertionInput} option at creation (a `TypeError` naming `option`) and turns it into
 * one shape.
 */
export function resolveAssertionInput(input: unknown, option: string): ResolvedSource {
  if (typeof input === "string") {
    if (input === "")
      throw new TypeError(`${option} must be a non-empty string, a function or an AssertionSource`);
    return { read: async () => input, description: undefined, kind: "jwt-bearer", fixed: true };
  }
  if (typeof input === "function") {
    const call = input as () => string | Promise<string>;
    return { read: async () => call(), description: `${option} function`, kind: "jwt-bearer", fixed: false };
  }
  if (
    typeof input === "object" &&
    input !== null &&
    typeof (input as AssertionSource).getAssertion === "function"
  ) {
    const source = input as AssertionSource;
    const { description, kind = "jwt-bearer" } = source;
    if (description !== undefined && typeof description !== "string") {
      throw new TypeError(`${option}.description must be a string`);
    }
    if (!KINDS.includes(kind)) throw new TypeError(`${option}.kind must be "jwt-bearer" or "jwt-spiffe"`);
    return {
      // As a promise whatever it returns: a JavaScript source may answer synchronously.
      read: async (context) => source.getAssertion(context),
      description: description || `${option} source`,
      kind,
      fixed: false,
    };
  }
  throw new TypeError(
    `${option} must be an assertion (a JWT string), a function that returns one, or an AssertionSource ({ getAssertion() })`,
  );
}

/** The `client_assertion_type` for a kind. */
export function assertionType(kind: AssertionKind): string {
  return kind === "jwt-spiffe" ? JWT_SPIFFE_ASSERTION_TYPE : JWT_BEARER_ASSERTION_TYPE;
}

/**
 * How m2m-kit's own sources fail: `message` says why (naming paths and URLs without their query, never
 * an assertion or a credential), and the client turns it into a `ClientAssertionError`.
 */
export class SourceFailure extends Error {
  readonly transient: boolean;
  readonly problem: "source_failed" | "refused";

  constructor(
    message: string,
    options: { transient?: boolean; problem?: "source_failed" | "refused"; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "SourceFailure";
    this.transient = options.transient ?? false;
    this.problem = options.problem ?? "source_failed";
  }
}

/**
 * A source's failure as a `ClientAssertionError` naming the source and the parameter. The reason is
 * kept only from m2m-kit's own sources ({@link SourceFailure}); another source's message is left out
 * (it stays on `cause`), as it might quote what it read.
 */
export function sourceFailure(
  error: unknown,
  source: ResolvedSource,
  parameter: ClientAssertionError["parameter"],
): ClientAssertionError {
  if (error instanceof ClientAssertionError) return error;
  const name = source.description ?? parameter;
  const ours = error instanceof SourceFailure;
  const transient =
    typeof error === "object" && error !== null && (error as { transient?: unknown }).transient === true;
  return new ClientAssertionError(
    `${parameter} source ${name} failed${ours ? `: ${error.message}` : ""}; no token request was sent`,
    {
      parameter,
      problem: ours ? error.problem : "source_failed",
      source: source.description,
      transient,
      cause: error,
    },
  );
}
