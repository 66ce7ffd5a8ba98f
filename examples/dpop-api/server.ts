import express from "express";
import { requireAuth } from "m2m-kit/express";

const app = express();

// DPoP-bound tokens only (RFC 9449): each request carries `Authorization: DPoP <token>` and a fresh
// `DPoP` proof signed by the key the token is bound to.
app.use(
  "/api",
  requireAuth({
    issuer: process.env.ISSUER ?? "",
    audience: "https://api.example.com",
    dpop: { required: true },
    // The URL clients call this API at, which their proofs name (htu): PUBLIC_URL in production, such
    // as https://api.example.com; "host-header" takes it from each request's Host header instead.
    publicUrl: process.env.PUBLIC_URL ?? "host-header",
  }),
);

app.get("/api/data", (req, res) => {
  res.json({ client: req.auth?.clientId, boundTo: (req.auth?.claims.cnf as { jkt?: string })?.jkt });
});

const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`dpop-api listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
