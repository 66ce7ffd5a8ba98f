import { InvalidTokenError } from "../errors.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
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
   * value is an RFC 9440 `Client-Cert` byte sequence (`:base64 DER:`), base64 DER without colons
   * (HAProxy `%[ssl_c_der,base64]`) or a URL-encoded PEM (nginx `$ssl_client_escaped_cert`, AWS ALB
   * `X-Amzn-Mtls-Clientcert`); no header or an empty value means no certificate was presented. A value
   * that is none of these is refused as unreadable (401 `invalid_token`, code `ERR_CERTIFICATE_HEADER`)
   * when a certificate-bound token needs it. Default: none, and then no header is ever read — a client
   * could forge it. Set it only when the proxy strips this header from incoming requests and sets it
   * itself. With it, Express and Fastify use the header, not the socket.
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

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A value of the header that is not one client certificate (401 `invalid_token`, RFC 8705 §3). */
function unreadable(): InvalidTokenError {
  return new InvalidTokenError(
    "ERR_CERTIFICATE_HEADER",
    "the client certificate header is unreadable: not one certificate as an RFC 9440 byte sequence, base64 DER or URL-encoded PEM",
  );
}

/**
 * The DER bytes of the client certificate in the value of the header a TLS-terminating proxy sets,
 * in each form proxies send:
 * - an RFC 9440 `Client-Cert` byte sequence, `:MIIC…:`;
 * - base64 DER without colons (HAProxy `%[ssl_c_der,base64]`, Azure App Service `X-ARR-ClientCert`);
 * - a URL-encoded PEM (nginx `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`), or a PEM
 *   whose line breaks a proxy turned into spaces; URL-encoded base64 DER too.
 *
 * Returns `undefined` when no certificate was presented: no header, or an empty value (what HAProxy
 * and nginx send then). Throws `InvalidTokenError` with code `ERR_CERTIFICATE_HEADER` for any other
 * value that is not exactly one X.509 certificate (garbage, truncated base64, a PEM key, a chain or
 * two joined values), so that a proxy sending a form this function does not read is told apart from
 * a client without a certificate.
 */
export function parseClientCertificateHeader(value: string | null | undefined): Uint8Array | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "string") throw unreadable();
  let text = value.trim();
  if (text === "") return undefined;
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text).trim();
    } catch {
      throw unreadable();
    }
  }
  let base64: string | undefined;
  const sfBinary = /^:([^:]*):$/.exec(text);
  if (sfBinary) {
    base64 = sfBinary[1];
  } else if (text.startsWith("-----BEGIN")) {
    const blocks = [...text.matchAll(PEM_BLOCK)];
    // One certificate and nothing else: a chain, two joined values or a key is not a client certificate.
    if (blocks.length !== 1 || blocks[0]?.[0] !== text || blocks[0][1] !== "CERTIFICATE") throw unreadable();
    base64 = blocks[0][2]?.replace(/\s+/g, "");
  } else {
    base64 = text;
  }
  if (!base64 || !BASE64.test(base64)) throw unreadable();
  let bytes: Uint8Array;
  try {
    const binary = atob(base64);
    bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  } catch {
    throw unreadable();
  }
  if (!isCertificateDer(bytes)) throw unreadable();
  return bytes;
}

/**
 * The outline of an X.509 certificate in DER (RFC 5280 §4.1): a SEQUENCE spanning every byte that
 * holds exactly a SEQUENCE (tbsCertificate), a SEQUENCE (signatureAlgorithm) and a BIT STRING
 * (signatureValue). Truncated base64, a key or other DER fails it.
 */
function isCertificateDer(bytes: Uint8Array): boolean {
  const outer = derElement(bytes, 0);
  if (outer?.tag !== 0x30 || outer.end !== bytes.length) return false;
  const tags: number[] = [];
  for (let offset = outer.contentStart; offset < outer.end; ) {
    const element = derElement(bytes, offset);
    if (!element || element.end > outer.end) return false;
    tags.push(element.tag);
    offset = element.end;
  }
  return tags.length === 3 && tags[0] === 0x30 && tags[1] === 0x30 && tags[2] === 0x03;
}

/** Tag, start of the contents and end of one DER element (definite lengths only, as DER requires). */
function derElement(
  bytes: Uint8Array,
  offset: number,
): { tag: number; contentStart: number; end: number } | undefined {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) return undefined;
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = bytes[contentStart + i];
      if (byte === undefined) return undefined;
      length = length * 256 + byte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  return end <= bytes.length ? { tag, contentStart, end } : undefined;
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
 * `ERR_CERTIFICATE_HEADER` when the header that should carry it is unreadable,
 * `ERR_TOKEN_NOT_CERTIFICATE_BOUND` for an unbound token when bound ones are required.
 *
 * @throws TypeError for an option it does not know (`requireCertificateBoundToken`) or a bad value.
 */
export function checkCertificateBinding(
  auth: AuthResult,
  certificate: ClientCertificateSource | undefined,
  options: CertificateBindingOptions = {},
): AuthResult | Promise<AuthResult> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("checkCertificateBinding() options must be an object");
  }
  checkOptionNames(options, [CERTIFICATE_BINDING_OPTION_NAMES], "checkCertificateBinding()");
  checkCertificateBindingOptions(options);
  return certificateBinding(auth, certificate, options.requireCertificateBoundTokens === true);
}

/** {@link checkCertificateBinding} for the adapters, whose settings are checked at creation. */
export function certificateBinding(
  auth: AuthResult,
  certificate: ClientCertificateSource | undefined,
  requireBound: boolean,
): AuthResult | Promise<AuthResult> {
  const cnf = auth.claims.cnf as Record<string, unknown> | undefined;
  const expected = typeof cnf === "object" && cnf !== null ? cnf["x5t#S256"] : undefined;
  if (expected === undefined) {
    if (requireBound) {
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
