import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import type { NodeFetchOptions } from "./fetch-options.js";

export function tlsConnectOptions(options: NodeFetchOptions): tls.ConnectionOptions {
  const result: tls.ConnectionOptions = {};
  if (options.ca !== undefined) {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca];
    if (list.length === 0) throw new TypeError("ca must be a PEM certificate or a non-empty list of them");
    const pems = list.map((entry, index) => {
      const text = pemText(entry, Array.isArray(options.ca) ? `ca[${index}]` : "ca");
      if (!text.includes("-----BEGIN CERTIFICATE-----")) {
        throw new TypeError(`${Array.isArray(options.ca) ? `ca[${index}]` : "ca"} is not a PEM certificate`);
      }
      return text;
    });
    result.ca = [...defaultRoots(), ...pems];
  }
  if (options.pfx !== undefined) {
    if (!(options.pfx instanceof Uint8Array)) throw new TypeError("pfx must be the bytes of a PKCS#12 file");
    if (options.cert !== undefined || options.key !== undefined) {
      throw new TypeError("pfx replaces cert and key; give one or the other");
    }
    result.pfx = Buffer.from(options.pfx);
  }
  if (options.cert !== undefined || options.key !== undefined) {
    if (options.cert === undefined) throw new TypeError("key needs cert (the client certificate)");
    if (options.key === undefined) throw new TypeError("cert needs key (its private key)");
    const cert = pemText(options.cert, "cert");
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new TypeError("cert is not a PEM certificate");
    const key = pemText(options.key, "key");
    if (!/-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/.test(key))
      throw new TypeError("key is not a PEM private key");
    result.cert = cert;
    result.key = key;
  }
  if (options.passphrase !== undefined) {
    if (typeof options.passphrase !== "string") throw new TypeError("passphrase must be a string");
    result.passphrase = options.passphrase;
  }
  if (result.cert || result.pfx) {
    // Load once now, so a wrong passphrase or a key that does not fit the certificate is a
    // construction error rather than a failed handshake later. OpenSSL's reason names no secret.
    try {
      tls.createSecureContext({
        cert: result.cert,
        key: result.key,
        pfx: result.pfx,
        passphrase: result.passphrase,
      });
    } catch (error) {
      const option = result.pfx ? "pfx" : "cert/key";
      throw new TypeError(`${option} could not be loaded: ${(error as Error).message}`);
    }
  }
  return result;
}

/** SHA-256 of the client certificate (DER), or of the PKCS#12 bytes: part of the client's cache key. */
export function certificateFingerprint(options: tls.ConnectionOptions): string | undefined {
  if (options.pfx !== undefined)
    return createHash("sha256")
      .update(options.pfx as Buffer)
      .digest("base64url");
  if (typeof options.cert !== "string") return undefined;
  try {
    return createHash("sha256").update(new X509Certificate(options.cert).raw).digest("base64url");
  } catch {
    return createHash("sha256").update(options.cert).digest("base64url");
  }
}

function pemText(value: unknown, option: string): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  throw new TypeError(`${option} must be PEM text (a string or its bytes)`);
}

/**
 * The roots Node trusts when no `ca` is given, so that `ca` adds to them instead of replacing them:
 * the bundled roots and the certificates of the file named by `NODE_EXTRA_CA_CERTS`. Node 22.15+
 * and 23.10+ list both through `tls.getCACertificates("default")`; on older versions
 * `tls.rootCertificates` holds the bundled roots only, and the file is read here, once, as Node reads
 * it once at start.
 */
function defaultRoots(): readonly string[] {
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (getCACertificates) return getCACertificates("default");
  extraRoots ??= readExtraCaCertificates(process.env.NODE_EXTRA_CA_CERTS);
  return [...tls.rootCertificates, ...extraRoots];
}

let extraRoots: readonly string[] | undefined;

/**
 * The certificates of a NODE_EXTRA_CA_CERTS file. A file or certificate that cannot be read is left
 * out, as Node leaves it out (Node has already printed its warning at start).
 */
function readExtraCaCertificates(file: string | undefined): readonly string[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
}
