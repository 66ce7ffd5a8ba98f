import { createServer } from "node:http";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { main } from "../../examples/cli-script/index.js";
import { listen } from "../support/http.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";

let as: RunningProvider;
let api: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  as = await startProvider();
  api = await listen(
    createServer((req, res) => {
      res.end(req.headers.authorization?.startsWith("Bearer ey") ? "hello, machine" : "no token");
    }),
  );
});
afterAll(async () => {
  await api.close();
  await as.close();
});

it("examples/cli-script gets a token and calls the API", async () => {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  const result = await main({
    ISSUER: as.issuer,
    CLIENT_ID: "basic-client",
    CLIENT_SECRET: ODD_SECRET,
    AUDIENCE: "https://api.example.com",
    SCOPE: "read:data",
    API_URL: `${api.url}/data`,
  });
  expect(result).toEqual({ status: 200, body: "hello, machine" });
  expect(log).toHaveBeenCalledWith("got a Bearer token for https://api.example.com, scopes [read:data]");
  expect(as.tokenRequests).toBe(1);
  log.mockRestore();
});
