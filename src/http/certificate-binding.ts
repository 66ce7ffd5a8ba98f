import { InvalidTokenError } from "../errors.js";
import type { OptionNames } from "../lib/option-names.js";
import type { AuthResult } from "../verify/verifier.js";

/**
 * Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` claim carries `x5t#S256` is
 * accepted only on a request made with that TLS client certificate. Written once; every adapter only
 * says where the request's certificate comes from.
 */

/** Adapter options for certificate-bound tokens. */
export interface CertificateBindingOptions {
  /**
   * Name of the request header that carries the client certificate when TLS ends at a proxy or load
   * balancer in front of the app (and for `m2m-kit/web`, which never sees the TLS connection). Its
   * value is an RFC 9440 `Client-Cert` byte sequence (`:base64 DER:`) or a URL-encoded PEM (nginx
   * `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`). Default: none, and then no header is
   * ever read — a client could forge it. Set it only when the proxy strips this header from incoming
   * requests and sets it itself. With it, Express and Fastify use the header, not the socket.
   */
  clientCertificateHeader?: string;
  /**
   * Refuse access tokens that are not certificate-bound (401 `invalid_token`). Default `false`: an
   * unbound token is accepted, a bound one always needs its certificate.
   */
  requireCertificateBoundTokens?: boolean;
}

/** The names of {@link CertificateBindingOptions}. */
export const CERTIFICATE_BINDING_OPTION_NAMES: OptionNames<CertificateBindingOptions> = {
  clientCertificateHeader: true,
  requireCertificateBoundTokens: true,
};

/**
 * The `x5t#S256` (base64url SHA-256 of the DER certificate) of the certificate the request was made
 * with, `undefined` when it presented none. Called only when a token needs it.
 */
export type ClientCertificateSource = () => string | undefined | Promise<string | undefined>;

/** RFC 9110 §5.1 field-name (token). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Validates the options at construction; a bad one is a `TypeError` naming it. */
export function checkCertificateBindingOptions(options: CertificateBindingOptions): void {
  const header = options.clientCertificateHeader;
  if (header !== undefined && (typeof header !== "string" || !FIELD_NAME.test(header))) {
    throw new TypeError("clientCertificateHeader must be a header name, such as client-cert");
  }
  const required = options.requireCertificateBoundTokens;
  if (required !== undefined && typeof required !== "boolean") {
    throw new TypeError("requireCertificateBoundTokens must be a boolean");
  }
}

const PEM = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/;

/**
 * The DER bytes of the client certificate in a header value: an RFC 9440 byte sequence
 * (`:MIIC…:`), a URL-encoded PEM, or a PEM whose line breaks a proxy turned into spaces. Returns
 * `undefined` for anything else (no certificate, several values, garbage).
 */
export function parseClientCertificateHeader(value: string | null | undefined): Uint8Array | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  let base64: string | undefined;
  const sfBinary = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(text);
  if (sfBinary) {
    base64 = sfBinary[1];
  } else {
    let decoded = text;
    if (text.includes("%")) {
      try {
        decoded = decodeURIComponent(text);
      } catch {
        return undefined;
      }
    }
    const pem = PEM.exec(decoded);
    // One certificate only: a chain or two joined values is not one client certificate.
    if (!pem || decoded.indexOf("-----BEGIN", pem.index + 1) !== -1) return undefined;
    base64 = pem[1]?.replace(/\s+/g, "");
  }
  if (!base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  try {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    // A DER certificate is a SEQUENCE.
    return bytes[0] === 0x30 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 8705 §3.1 `x5t#S256` of a DER certificate (WebCrypto SHA-256, base64url without padding). */
export async function certificateThumbprint(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A certificate source reading the configured header (for adapters that see no TLS connection). */
export function headerCertificateSource(value: string | null | undefined): ClientCertificateSource {
  return () => {
    const der = parseClientCertificateHeader(value);
    return der ? certificateThumbprint(der) : undefined;
  };
}

/**
 * RFC 8705 §3: checks a verified token against the certificate of the request. Returns `auth` (or a
 * promise of it while the certificate's hash is computed); throws or rejects with
 * `InvalidTokenError` — `ERR_CERTIFICATE_BINDING` for a bound token without its certificate,
 * `ERR_TOKEN_NOT_CERTIFICATE_BOUND` for an unbound token when bound ones are required.
 */
export function checkCertificateBinding(
  auth: AuthResult,
  certificate: ClientCertificateSource | undefined,
  options: CertificateBindingOptions = {},
): AuthResult | Promise<AuthResult> {
  const cnf = auth.claims.cnf as Record<string, unknown> | undefined;
  const expected = typeof cnf === "object" && cnf !== null ? cnf["x5t#S256"] : undefined;
  if (expected === undefined) {
    if (options.requireCertificateBoundTokens) {
      throw new InvalidTokenError(
        "ERR_TOKEN_NOT_CERTIFICATE_BOUND",
        "the access token is not bound to a client certificate (RFC 8705)",
      );
    }
    return auth;
  }
  if (typeof expected !== "string" || expected === "") {
    throw new InvalidTokenError(
      "ERR_CERTIFICATE_BINDING",
      'the access token\'s cnf["x5t#S256"] is malformed',
    );
  }
  const presented = certificate?.();
  const compare = (thumbprint: string | undefined): AuthResult => {
    if (thumbprint === undefined) {
      throw new InvalidTokenError(
        "ERR_CERTIFICATE_BINDING",
        "the access token is bound to a client certificate (RFC 8705) and the request presented none",
      );
    }
    if (thumbprint !== expected) {
      throw new InvalidTokenError(
        "ERR_CERTIFICATE_BINDING",
        "the access token is bound to another client certificate than the one of the request (RFC 8705)",
      );
    }
    return auth;
  };
  return presented instanceof Promise ? presented.then(compare) : compare(presented);
}
