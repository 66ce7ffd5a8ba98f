/**
 * `githubActionsAssertion`: the job's OIDC token, asked of a real HTTP server that answers as GitHub's
 * endpoint, on every token request; errors name the endpoint without its query and never the request
 * token; `m2m-kit/node` reads the request URL and token from the job's environment.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientAssertionError, ClientCredentialsClient, githubActionsAssertion } from "../../src/index.js";
import { githubActionsAssertion as githubActionsFromEnv } from "../../src/node/index.js";
import { mintAssertion } from "../support/assertions.js";
import { type GithubOidcServer, startGithubOidc } from "../support/github-oidc.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";

const API = "https://api.example.com";
const AUDIENCE = "api://AzureADTokenExchange";
let as: RunningProvider;
let keys: ClientKeys;
let github: GithubOidcServer;

beforeAll(async () => {
  keys = await generateClientKeys();
  as = await startProvider({ clients: defaultClients(keys) });
  // oidc-provider takes an assertion of the client itself: the job's token is one, for the audience asked.
  github = await startGithubOidc((audience) =>
    mintAssertion(keys.rsa.privateKey, {
      iss: "rsa-client",
      sub: "rsa-client",
      aud: audience === AUDIENCE ? as.issuer : "https://elsewhere.example",
      kid: "rsa-1",
    }),
  );
});
afterAll(async () => {
  await Promise.all([as?.close(), github?.close()]);
});

describe("githubActionsAssertion", () => {
  it("GETs the request URL with &audience= (URL-encoded) and the request token, for every token request", async () => {
    github.requests.length = 0;
    as.resetCount();
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: githubActionsAssertion({
        audience: AUDIENCE,
        requestUrl: github.requestUrl,
        requestToken: github.requestToken,
      }),
    });
    const first = await client.getToken({ audience: API });
    expect((await client.getToken({ audience: API })).accessToken).toBe(first.accessToken);
    await client.getToken({ audience: API, forceRefresh: true });
    expect(as.tokenRequests).toBe(2);
    expect(github.requests).toHaveLength(2);
    for (const request of github.requests) {
      expect(request.url).toBe(
        "/_apis/pipelines/1/runs/7/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange",
      );
      expect(request.audience).toBe(AUDIENCE);
      expect(request.authorization).toBe(`bearer ${github.requestToken}`);
    }
    await client.close();
  });

  it("a refused request names the endpoint without its query, never the request token; 5xx is retried", async () => {
    as.resetCount();
    const source = githubActionsAssertion({
      audience: AUDIENCE,
      requestUrl: github.requestUrl,
      requestToken: github.requestToken,
    });
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: source,
    });
    github.fail(403);
    const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAssertionError);
    const shown = `${(error as Error).message}\n${inspect(error, { depth: 5 })}\n${inspect(source)}\n${String(source)}`;
    expect((error as Error).message).toBe(
      `client_assertion source GitHub Actions OIDC endpoint ${new URL(github.requestUrl).origin}/_apis/pipelines/1/runs/7/idtoken (audience ${AUDIENCE}) failed: answered 403; the job needs \`permissions: id-token: write\` and a current ACTIONS_ID_TOKEN_REQUEST_TOKEN; no token request was sent`,
    );
    expect(shown).not.toContain(github.requestToken);
    expect(shown).not.toContain("api-version");
    expect(as.tokenRequests).toBe(0);
    // A 503 from GitHub is retried like a network error.
    github.fail(503);
    const client2 = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: source,
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    await expect(client2.getToken({ audience: API })).resolves.toBeTruthy();
    expect(as.tokenRequests).toBe(1);
    for (const c of [client, client2]) await c.close();
  });

  it("a missing option is a TypeError naming it", () => {
    expect(() =>
      githubActionsAssertion({ requestUrl: github.requestUrl, requestToken: github.requestToken } as never),
    ).toThrow(/audience must be a non-empty string/);
    expect(() => githubActionsAssertion({ audience: AUDIENCE, requestToken: "t" } as never)).toThrow(
      /requestUrl must be a non-empty string \(ACTIONS_ID_TOKEN_REQUEST_URL\)/,
    );
    expect(() =>
      githubActionsAssertion({
        audience: AUDIENCE,
        requestUrl: github.requestUrl,
        requestToken: "t",
        audiance: 1,
      } as never),
    ).toThrow("audiance is not an option of githubActionsAssertion(); did you mean audience?");
  });

  it("the request token is sent over https only (http: on a loopback host), and audience reaches the query", () => {
    const made = (requestUrl: string) => () =>
      githubActionsAssertion({ audience: AUDIENCE, requestUrl, requestToken: "request-token" });
    for (const requestUrl of [
      "http://pipelines.example.com/idtoken?api-version=2.0",
      "http://10.1.0.4/idtoken?api-version=2.0",
    ]) {
      expect(made(requestUrl), requestUrl).toThrow(
        "githubActionsAssertion(): requestUrl must be an https: URL (http: only on a loopback host)",
      );
      expect(() =>
        githubActionsFromEnv({
          audience: AUDIENCE,
          env: { ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "request-token" },
        }),
      ).toThrow(/requestUrl must be an https: URL/);
    }
    // With a fragment, the appended &audience= would never leave the machine.
    expect(made("https://pipelines.example.com/idtoken?api-version=2.0#job")).toThrow(
      "githubActionsAssertion(): requestUrl must not have a fragment (audience is appended to its query)",
    );
    for (const requestUrl of [
      "https://pipelines.example.com/idtoken?api-version=2.0",
      "http://127.0.0.1:8080/idtoken?api-version=2.0",
      "http://localhost:8080/idtoken",
      github.requestUrl,
    ]) {
      expect(made(requestUrl), requestUrl).not.toThrow();
    }
  });
});

describe("m2m-kit/node githubActionsAssertion", () => {
  it("reads ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN", async () => {
    github.requests.length = 0;
    const client = new ClientCredentialsClient({
      issuer: as.issuer,
      clientId: "rsa-client",
      clientAssertion: githubActionsFromEnv({
        audience: AUDIENCE,
        env: {
          ACTIONS_ID_TOKEN_REQUEST_URL: github.requestUrl,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: github.requestToken,
        },
      }),
    });
    await client.getToken({ audience: API });
    expect(github.requests.map((r) => r.authorization)).toEqual([`bearer ${github.requestToken}`]);
    await client.close();
  });

  it("without them: a TypeError naming both and the job permission", () => {
    expect(() => githubActionsFromEnv({ audience: AUDIENCE, env: {} })).toThrow(
      "githubActionsAssertion(): ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set; GitHub sets them in a job with `permissions: id-token: write`",
    );
  });
});
