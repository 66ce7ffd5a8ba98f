/**
 * An Express API that accepts certificate-bound access tokens (RFC 8705 §3): a token whose
 * `cnf["x5t#S256"]` names a certificate is accepted only on a request made with that certificate.
 *
 * Two ways to run it:
 * - TLS ends here (TLS_CERT_FILE, TLS_KEY_FILE): HTTPS that asks for client certificates and lets the
 *   middleware read the certificate from the socket.
 * - Behind a TLS-terminating proxy (CLIENT_CERT_HEADER=client-cert, no TLS files): plain HTTP; the
 *   certificate comes from the header the proxy sets (RFC 9440 `:base64 DER:`, base64 DER as HAProxy
 *   sends it, or a URL-encoded PEM).
 *   Only do this when the proxy removes that header from what clients send.
 *
 *   ISSUER=https://idp.corp.example CA_FILE=corp-root-ca.pem TLS_CERT_FILE=api.pem TLS_KEY_FILE=api.key \
 *   npx tsx examples/mtls-api/server.ts
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import express from "express";
import { createVerifier } from "m2m-kit";
import { requireAuth } from "m2m-kit/express";
import { createNodeFetch } from "m2m-kit/node";

// Discovery and JWKS of an issuer whose certificate a private CA signed.
const fetch = createNodeFetch({ ca: process.env.CA_FILE ? readFileSync(process.env.CA_FILE) : undefined });
const verifier = createVerifier({
  issuer: process.env.ISSUER ?? "",
  audience: process.env.AUDIENCE ?? "https://api.example.com",
  fetch,
});
const header = process.env.CLIENT_CERT_HEADER;

const app = express();
app.use(
  "/data",
  requireAuth(verifier, {
    clientCertificateHeader: header, // undefined: the header is never read
    requireCertificateBoundTokens: process.env.REQUIRE_BOUND === "1",
  }),
);
app.get("/data", (req, res) => {
  res.json({ client: req.auth?.clientId });
});

const server = header
  ? createHttpServer(app)
  : createHttpsServer(
      {
        cert: readFileSync(process.env.TLS_CERT_FILE ?? ""),
        key: readFileSync(process.env.TLS_KEY_FILE ?? ""),
        // Ask for a certificate, and let the middleware decide: a request without one may still
        // carry an unbound token.
        requestCert: true,
        rejectUnauthorized: false,
      },
      app,
    );
server.listen(Number(process.env.PORT ?? 3443), "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  console.log(`mtls-api listening on ${header ? "http" : "https"}://127.0.0.1:${port}`);
});
process.once("SIGTERM", () => {
  server.close();
  void fetch.close();
});
