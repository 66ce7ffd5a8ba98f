import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import {
  type CertificateBindingOptions,
  type ClientCertificateSource,
  checkCertificateBindingOptions,
  parseClientCertificateHeader,
} from "../http/certificate-binding.js";

/** x5t#S256 per TLS connection: the certificate of a connection does not change (TLS 1.3). */
const thumbprints = new WeakMap<object, string | null>();

function sha256(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("base64url");
}

/** RFC 8705 §3.1 `x5t#S256` of the client certificate of a TLS socket; `undefined` for none or plain HTTP. */
export function peerCertificateThumbprint(socket: unknown): string | undefined {
  if (typeof (socket as TLSSocket | undefined)?.getPeerCertificate !== "function") return undefined;
  const known = thumbprints.get(socket as object);
  if (known !== undefined) return known ?? undefined;
  const raw = (socket as TLSSocket).getPeerCertificate()?.raw;
  const thumbprint = raw && raw.length > 0 ? sha256(raw) : null;
  thumbprints.set(socket as object, thumbprint);
  return thumbprint ?? undefined;
}

/**
 * Where the Node adapters find the request's client certificate: the configured header (TLS ends at
 * a proxy), else the TLS socket. Validates the options (a `TypeError` naming a bad one).
 */
export function nodeCertificateSource(
  options: CertificateBindingOptions,
): (socket: unknown, header: (name: string) => string | string[] | undefined) => ClientCertificateSource {
  checkCertificateBindingOptions(options);
  const name = options.clientCertificateHeader?.toLowerCase();
  if (name === undefined) return (socket) => () => peerCertificateThumbprint(socket);
  return (_socket, header) => () => {
    const value = header(name);
    // Node joins a repeated header with ", "; a list left as one is several values, not one certificate.
    const der = parseClientCertificateHeader(Array.isArray(value) ? value.join(", ") : value);
    return der ? sha256(der) : undefined;
  };
}
