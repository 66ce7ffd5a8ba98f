import express from "express";
import { requireAuth, requireScopes } from "m2m-kit/express";

const app = express();

// Every /api route needs a valid access token for this API.
app.use("/api", requireAuth({ issuer: process.env.ISSUER ?? "", audience: "https://api.example.com" }));

app.get("/api/data", requireScopes("read:data"), (req, res) => {
  res.json({ client: req.auth?.clientId, scopes: req.auth?.scopes });
});

app.post("/api/data", requireScopes("write:data"), (req, res) => {
  res.status(201).json({ client: req.auth?.clientId });
});

const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`express-api listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
