import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { checkOptionNames, knownOptions, type OptionNames } from "../lib/option-names.js";
import type { TestIssuer } from "./index.js";
import { GITHUB_ACTIONS_TOKEN_OPTION_NAMES, type GitHubActionsTokenOptions } from "./platform-tokens.js";

/** Options of {@link createGitHubActionsTokenServer}: the run its tokens describe (the audience comes with each request). */
export type GitHubActionsTokenServerOptions = Omit<GitHubActionsTokenOptions, "audience">;

const SERVER_OPTION_NAMES: OptionNames<GitHubActionsTokenServerOptions> = (() => {
  const { audience: _, ...names } = GITHUB_ACTIONS_TOKEN_OPTION_NAMES;
  return names;
})();

/** A local stand-in for the GitHub Actions runner's OIDC token endpoint. */
export interface GitHubActionsTokenServer {
  /**
   * `ACTIONS_ID_TOKEN_REQUEST_URL`: like the runner's, it already has a query string, so a client
   * appends `&audience=<aud>`.
   */
  requestUrl: string;
  /** `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the bearer token the endpoint requires. */
  requestToken: string;
  /** Both variables, as the runner sets them, for a child process's `env` or code that reads them. */
  env: {
    /** {@link GitHubActionsTokenServer.requestUrl}. */
    ACTIONS_ID_TOKEN_REQUEST_URL: string;
    /** {@link GitHubActionsTokenServer.requestToken}. */
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: string;
  };
  /** The `audience` of each request answered with a token, in order (`undefined`: none asked). */
  readonly audiences: readonly (string | undefined)[];
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts a real HTTP server on 127.0.0.1 that answers as the GitHub Actions runner's OIDC token
 * endpoint does: `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with `Authorization: Bearer
 * <ACTIONS_ID_TOKEN_REQUEST_TOKEN>` → `200 { "value": "<jwt>" }`, the JWT minted by `issuer` with
 * {@link TestIssuer.mintGitHubActionsToken} for that audience (GitHub's default `https://github.com/<owner>`
 * without one). A missing or wrong bearer token → 401; another path → 404.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer();
 * const actions = await createGitHubActionsTokenServer(issuer, { repository: "octo-org/deployer" });
 * // run the code under test with actions.env in its environment; trust issuer.issuer for
 * // the subject "repo:octo-org/deployer:ref:refs/heads/main"
 * await actions.close();
 * ```
 */
export async function createGitHubActionsTokenServer(
  issuer: TestIssuer,
  options: GitHubActionsTokenServerOptions = {},
): Promise<GitHubActionsTokenServer> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("createGitHubActionsTokenServer() options must be an object");
  }
  checkOptionNames(options, [SERVER_OPTION_NAMES], "createGitHubActionsTokenServer()");
  options = knownOptions(options, [SERVER_OPTION_NAMES]);
  const requestToken = randomBytes(24).toString("base64url");
  const plan = crypto.randomUUID();
  const job = crypto.randomUUID();
  const path = `/_apis/distributedtask/hubs/Actions/plans/${plan}/jobs/${job}/idtoken`;
  const audiences: (string | undefined)[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== path) return answer(404, { message: "Not Found" });
    if (req.method !== "GET") return answer(405, { message: "Method Not Allowed" });
    const match = /^bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (match?.[1] !== requestToken) return answer(401, { message: "Unauthorized" });
    const audience = url.searchParams.get("audience") ?? undefined;
    try {
      const value = await issuer.mintGitHubActionsToken({
        ...options,
        ...(audience !== undefined ? { audience } : {}),
      });
      audiences.push(audience);
      answer(200, { value });
    } catch (error) {
      answer(500, { message: (error as Error).message });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const requestUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}?api-version=2.0`;
  return {
    requestUrl,
    requestToken,
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
    audiences,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
