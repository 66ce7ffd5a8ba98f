/**
 * A real HTTP server answering as GitHub Actions' OIDC token endpoint: GET of the job's request URL
 * (`…/idtoken?api-version=2.0`) with `&audience=…` appended and `Authorization: bearer <request
 * token>`, answered with `{ "count": …, "value": "<JWT>" }`.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface GithubOidcServer {
  /** The job's `ACTIONS_ID_TOKEN_REQUEST_URL`. */
  requestUrl: string;
  /** The job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. */
  requestToken: string;
  /** Every request: its raw URL (path and query) and the audience asked for. */
  readonly requests: Array<{ url: string; audience: string | null; authorization: string | undefined }>;
  /** The next answers' statuses (each used once), before the normal answer. */
  fail(...statuses: number[]): void;
  close(): Promise<void>;
}

/** `mint(audience)` makes the ID token the endpoint hands out. */
export async function startGithubOidc(
  mint: (audience: string | null) => Promise<string>,
): Promise<GithubOidcServer> {
  const requestToken = `request-token-${crypto.randomUUID()}`;
  const requests: GithubOidcServer["requests"] = [];
  const failures: number[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const audience = url.searchParams.get("audience");
    requests.push({ url: req.url ?? "", audience, authorization: req.headers.authorization });
    const failure = failures.shift();
    if (failure !== undefined) {
      res
        .writeHead(failure, { "content-type": "application/json" })
        .end(JSON.stringify({ message: "failed" }));
      return;
    }
    if (req.method !== "GET" || url.pathname !== "/_apis/pipelines/1/runs/7/idtoken") {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `bearer ${requestToken}`) {
      res
        .writeHead(401, { "content-type": "application/json" })
        .end(JSON.stringify({ message: "Bad credentials" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ count: 1, value: await mint(audience) }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    requestUrl: `http://127.0.0.1:${port}/_apis/pipelines/1/runs/7/idtoken?api-version=2.0`,
    requestToken,
    requests,
    fail: (...statuses) => failures.push(...statuses),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
