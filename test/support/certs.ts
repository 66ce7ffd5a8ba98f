/**
 * Certificates made at test time (@peculiar/x509 on WebCrypto, ECDSA P-256): a test CA, a server
 * certificate for 127.0.0.1/localhost, client certificates signed by the CA and a self-signed one,
 * and a stranger CA nobody trusts. Made once per test file (a few tens of ms).
 */
import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

export interface TestCert {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
  /** DER bytes of the certificate. */
  der: Buffer;
  /** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** The certificate as the `x5c` entry of a JWK (base64 DER) plus its public key. */
  publicJwk: webcrypto.JsonWebKey & { x5c: string[] };
  /** Subject DN as written in the certificate. */
  subject: string;
}

export interface TestPki {
  ca: TestCert;
  /** Signed by `ca`; SANs IP 127.0.0.1 and DNS localhost. */
  server: TestCert;
  /** Signed by `ca`; CN=orders-job, SAN DNS orders-job.clients.example. */
  client: TestCert;
  /** Signed by `ca`, another key and name: CN=billing-job. */
  otherClient: TestCert;
  /** Self-signed client certificate (RFC 8705 §2.2). */
  selfSigned: TestCert;
  /** A CA no test server trusts, and a client certificate it signed (CN=orders-job, same name). */
  strangerCa: TestCert;
  strangerClient: TestCert;
  /** A server certificate for 127.0.0.1 signed by the stranger CA. */
  strangerServer: TestCert;
  /** A self-signed server certificate for 127.0.0.1/localhost (no CA). */
  selfSignedServer: TestCert;
}

async function keys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function toTestCert(
  cert: x509.X509Certificate,
  pair: CryptoKeyPair,
  subject: string,
): Promise<TestCert> {
  const pkcs8 = Buffer.from(
    await webcrypto.subtle.exportKey("pkcs8", pair.privateKey as webcrypto.CryptoKey),
  );
  const der = Buffer.from(cert.rawData);
  const publicJwk = await webcrypto.subtle.exportKey("jwk", pair.publicKey as webcrypto.CryptoKey);
  return {
    cert: cert.toString("pem"),
    key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`,
    der,
    thumbprint: createHash("sha256").update(der).digest("base64url"),
    publicJwk: { ...publicJwk, x5c: [der.toString("base64")] },
    subject,
  };
}

const validity = () => ({
  notBefore: new Date(Date.now() - 60 * 60 * 1000),
  notAfter: new Date(Date.now() + 24 * 60 * 60 * 1000),
});

async function makeCa(name: string): Promise<{ cert: TestCert; pair: CryptoKeyPair }> {
  const pair = await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys: pair,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
    ],
  });
  return { cert: await toTestCert(cert, pair, name), pair };
}

async function issue(
  ca: { cert: TestCert; pair: CryptoKeyPair },
  subject: string,
  usage: "server" | "client",
  names: x509.JsonGeneralName[],
): Promise<TestCert> {
  const pair = await keys();
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: pair.publicKey,
    signingKey: ca.pair.privateKey,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.pair.publicKey),
    ],
  });
  return toTestCert(cert, pair, subject);
}

/** A self-signed certificate for client authentication (RFC 8705 §2.2) or for a server on 127.0.0.1. */
async function selfSigned(subject: string, use: "client" | "server"): Promise<TestCert> {
  const pair = await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys: pair,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(use === "client"
        ? [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false)]
        : [
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
            new x509.SubjectAlternativeNameExtension(SERVER_NAMES),
          ]),
    ],
  });
  return toTestCert(cert, pair, subject);
}

const SERVER_NAMES: x509.JsonGeneralName[] = [
  { type: "ip", value: "127.0.0.1" },
  { type: "dns", value: "localhost" },
];

/** Makes a fresh set of test certificates. */
export async function createTestPki(): Promise<TestPki> {
  const ca = await makeCa("CN=m2m-kit Test Root CA,O=m2m-kit tests");
  const stranger = await makeCa("CN=Stranger CA");
  return {
    ca: ca.cert,
    server: await issue(ca, "CN=127.0.0.1", "server", SERVER_NAMES),
    client: await issue(ca, "CN=orders-job,O=Example", "client", [
      { type: "dns", value: "orders-job.clients.example" },
    ]),
    otherClient: await issue(ca, "CN=billing-job,O=Example", "client", [
      { type: "dns", value: "billing-job.clients.example" },
    ]),
    selfSigned: await selfSigned("CN=sensor-42", "client"),
    strangerCa: stranger.cert,
    strangerClient: await issue(stranger, "CN=orders-job,O=Example", "client", [
      { type: "dns", value: "orders-job.clients.example" },
    ]),
    strangerServer: await issue(stranger, "CN=127.0.0.1", "server", SERVER_NAMES),
    selfSignedServer: await selfSigned("CN=127.0.0.1", "server"),
  };
}
