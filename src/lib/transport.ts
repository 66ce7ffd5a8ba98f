/**
 * What a `fetch` made by `m2m-kit/node` tells the core about itself. The key is a registered symbol,
 * so it is found across two copies of the package (ESM and CommonJS builds).
 */
export const TRANSPORT_INFO: unique symbol = Symbol.for("m2m-kit.transport") as never;

export interface TransportInfo {
  /** The transport presents a TLS client certificate (RFC 8705 mutual TLS). */
  readonly presentsClientCertificate: boolean;
  /**
   * A fingerprint of that certificate (base64url SHA-256 of its DER form, or of the PKCS#12 bytes),
   * so that clients with two certificates never share a cached token.
   */
  readonly clientCertificate?: string;
}

/** The transport's description, or `undefined` for a `fetch` m2m-kit cannot see into. */
export function transportInfo(fetchImpl: unknown): TransportInfo | undefined {
  if (typeof fetchImpl !== "function") return undefined;
  const info = (fetchImpl as unknown as { [TRANSPORT_INFO]?: unknown })[TRANSPORT_INFO];
  if (typeof info !== "object" || info === null) return undefined;
  const { presentsClientCertificate: presents, clientCertificate } = info as {
    presentsClientCertificate?: unknown;
    clientCertificate?: unknown;
  };
  if (typeof presents !== "boolean") return undefined;
  return typeof clientCertificate === "string"
    ? { presentsClientCertificate: presents, clientCertificate }
    : { presentsClientCertificate: presents };
}
