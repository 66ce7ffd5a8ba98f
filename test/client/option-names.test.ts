/**
 * The client's configuration fails closed: the constructor's options and their nested `retry` and
 * `dpop`, and the per-call options of getToken, invalidate and dpopProof, refuse a name they do not
 * know, naming the option it misspells, before any request. client.fetch's init is shared with
 * `fetch` itself: there only near-misses of audience, scope and waitUntil are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DPOP_PROOF_OPTION_NAMES,
  FETCH_INIT_NAMES,
  GET_TOKEN_OPTION_NAMES,
  INVALIDATE_OPTION_NAMES,
} from "../../src/client/call-options.js";
import { CLIENT_DPOP_OPTION_NAMES } from "../../src/client/dpop.js";
import { GRANT_OPTION_NAMES } from "../../src/client/grants/option.js";
import { TOKEN_EXCHANGE_TOKEN_NAMES } from "../../src/client/grants/token-exchange.js";
import { CLIENT_OPTION_NAMES } from "../../src/client/options.js";
import { ClientCredentialsClient, githubActionsAssertion } from "../../src/index.js";
import { RETRY_OPTION_NAMES } from "../../src/lib/retry.js";
import { FILE_ASSERTION_OPTION_NAMES, fileAssertion } from "../../src/node/file-assertion.js";
import {
  githubActionsAssertion as githubActionsFromEnv,
  NODE_GITHUB_ACTIONS_ASSERTION_OPTION_NAMES,
  WORKLOAD_IDENTITY_OPTION_NAMES,
  workloadIdentity,
} from "../../src/node/workload-identity.js";
import { GITHUB_ACTIONS_ASSERTION_OPTION_NAMES } from "../../src/workload/github-actions.js";
import { serveFetch } from "../support/fetch-server.js";
import { ODD_SECRET, type RunningProvider, startProvider } from "../support/oidc.js";
import { expectTypoError, namesOf, rejected, thrown, typosOf } from "../support/option-names.js";

const API = "https://api.example.com";
let as: RunningProvider;
let api: Awaited<ReturnType<typeof serveFetch>>;
const options = () => ({ issuer: as.issuer, clientId: "basic-client", clientSecret: ODD_SECRET });

beforeAll(async () => {
  as = await startProvider();
  api = await serveFetch((request) => Response.json({ authorization: request.headers.get("authorization") }));
});
afterAll(async () => {
  await api.close();
  await as.close();
});

describe("the constructor refuses misspelt names", () => {
  it("top level", () => {
    for (const [typo, meant] of typosOf(namesOf(CLIENT_OPTION_NAMES))) {
      const error = thrown(() => new ClientCredentialsClient({ ...options(), [typo]: true } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of new ClientCredentialsClient()");
    }
    expect(
      thrown(() => new ClientCredentialsClient({ ...options(), timeout: 5_000 } as never)),
    ).toHaveProperty(
      "message",
      "timeout is not an option of new ClientCredentialsClient(); did you mean timeoutMs?",
    );
  });

  it("retry and dpop", () => {
    for (const [typo, meant] of typosOf(namesOf(RETRY_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => new ClientCredentialsClient({ ...options(), retry: { [typo]: 1 } } as never)),
        typo,
        meant,
        "retry.",
      );
    }
    for (const [typo, meant] of typosOf(namesOf(CLIENT_DPOP_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => new ClientCredentialsClient({ ...options(), dpop: { [typo]: true } } as never)),
        typo,
        meant,
        "dpop.",
      );
    }
  });

  it("grant, of either type", () => {
    const exchange = {
      type: "token-exchange",
      subjectToken: "a.b.c",
      subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
    };
    for (const [typo, meant] of typosOf(namesOf(GRANT_OPTION_NAMES))) {
      expectTypoError(
        thrown(
          () => new ClientCredentialsClient({ ...options(), grant: { ...exchange, [typo]: "x" } } as never),
        ),
        typo,
        meant,
        "grant.",
      );
    }
    expect(
      thrown(
        () =>
          new ClientCredentialsClient({
            ...options(),
            grant: { type: "jwt-bearer", asertion: "a.b.c" },
          } as never),
      ),
    ).toHaveProperty(
      "message",
      "grant.asertion is not an option of new ClientCredentialsClient(); did you mean grant.assertion?",
    );
  });

  it("the workload identity helpers: fileAssertion, githubActionsAssertion, workloadIdentity", () => {
    const github = {
      audience: "a",
      requestUrl: "https://github.example/idtoken?api-version=2.0",
      requestToken: "t",
    };
    const cases: Array<[string[], (typo: string) => unknown, string]> = [
      [
        namesOf(FILE_ASSERTION_OPTION_NAMES),
        (typo) => fileAssertion("/tmp/token", { [typo]: "jwt-spiffe" } as never),
        "fileAssertion()",
      ],
      [
        namesOf(GITHUB_ACTIONS_ASSERTION_OPTION_NAMES),
        (typo) => githubActionsAssertion({ ...github, [typo]: 1 } as never),
        "githubActionsAssertion()",
      ],
      [
        namesOf(NODE_GITHUB_ACTIONS_ASSERTION_OPTION_NAMES),
        (typo) => githubActionsFromEnv({ ...github, [typo]: 1 } as never),
        "githubActionsAssertion()",
      ],
      [
        namesOf(WORKLOAD_IDENTITY_OPTION_NAMES),
        (typo) => workloadIdentity({ tokenFile: "/tmp/token", [typo]: 1 } as never),
        "workloadIdentity()",
      ],
    ];
    for (const [names, call, where] of cases) {
      for (const [typo, meant] of typosOf(names)) {
        const error = thrown(() => call(typo));
        expectTypoError(error, typo, meant);
        expect((error as Error).message).toContain(`of ${where}`);
      }
    }
  });

  it("free-form extraParams are not checked; defaultScope must be RFC 6749 scope tokens", () => {
    expect(
      thrown(
        () =>
          new ClientCredentialsClient({
            ...options(),
            extraParams: { organization: "org_1", Orgnization: "x" },
          }),
      ),
    ).toBeUndefined();
    for (const defaultScope of [["read:data\r\nx"], "lire:donnée", ["a\\b"]]) {
      expect(thrown(() => new ClientCredentialsClient({ ...options(), defaultScope }))).toHaveProperty(
        "message",
        expect.stringMatching(/^defaultScope must hold RFC 6749 §3\.3 scope tokens/),
      );
    }
  });
});

describe("per-call options are refused before any request", () => {
  it("getToken: a misspelt scope would have fetched a token without it", async () => {
    const client = new ClientCredentialsClient(options());
    const before = as.tokenRequests;
    for (const [typo, meant] of typosOf(namesOf(GET_TOKEN_OPTION_NAMES))) {
      const error = await rejected(client.getToken({ audience: API, [typo]: ["read:data"] } as never));
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of getToken()");
    }
    expect(
      ((await rejected(client.getToken({ audience: API, scopes: ["read:data"] } as never))) as Error).message,
    ).toBe("scopes is not an option of getToken(); did you mean scope?");
    expect(as.tokenRequests).toBe(before);
    const token = await client.getToken({ audience: API, scope: ["read:data"] });
    expect(token.scope).toEqual(["read:data"]);
    await client.close();
  });

  it("exchangeToken: its tokens and getToken's options", async () => {
    const client = new ClientCredentialsClient(options());
    const before = as.tokenRequests;
    for (const [typo, meant] of typosOf(namesOf(GET_TOKEN_OPTION_NAMES, TOKEN_EXCHANGE_TOKEN_NAMES))) {
      const error = await rejected(
        client.exchangeToken({ subjectToken: "a.b.c", audience: API, [typo]: "x" } as never),
      );
      expectTypoError(error, typo, meant);
      expect((error as Error).message).toContain("of exchangeToken()");
    }
    expect(as.tokenRequests).toBe(before);
    await client.close();
  });

  it("invalidate and dpopProof", async () => {
    const client = new ClientCredentialsClient({ ...options(), dpop: true });
    for (const [typo, meant] of typosOf(namesOf(INVALIDATE_OPTION_NAMES))) {
      expectTypoError(await rejected(client.invalidate({ [typo]: API } as never)), typo, meant);
    }
    for (const [typo, meant] of typosOf(namesOf(DPOP_PROOF_OPTION_NAMES))) {
      expectTypoError(
        await rejected(client.dpopProof("GET", api.url, undefined, { [typo]: "n" } as never)),
        typo,
        meant,
      );
    }
    await client.close();
  });

  it("client.fetch: near-misses of audience, scope and waitUntil are refused; fetch's own init keys pass", async () => {
    const client = new ClientCredentialsClient(options());
    const before = as.tokenRequests;
    for (const [typo, meant] of typosOf(namesOf(FETCH_INIT_NAMES))) {
      const error = await rejected(client.fetch(api.url, { audience: API, [typo]: "x" } as never));
      expect(error, typo).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe(
        `${typo} is not an option of client.fetch() init; did you mean ${meant}?`,
      );
    }
    expect(as.tokenRequests).toBe(before);
    const response = await client.fetch(api.url, {
      audience: API,
      cache: "no-store",
      redirect: "error",
      keepalive: false,
      priority: "high",
    } as RequestInit & { audience: string });
    expect(((await response.json()) as { authorization: string }).authorization).toMatch(/^Bearer /);
    await client.close();
  });
});

describe("promise-returning client methods reject on bad arguments, never throw", () => {
  it("getToken, fetch, invalidate, dpopProof", async () => {
    const client = new ClientCredentialsClient({ ...options(), dpop: true });
    const calls: Array<() => Promise<unknown>> = [
      () => client.getToken(null as never),
      () => client.getToken({ scope: 5 } as never),
      () => client.fetch(api.url, null as never),
      () => client.invalidate(null as never),
      () => client.dpopProof("GET", api.url, undefined, null as never),
    ];
    for (const call of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = call();
      }).not.toThrow();
      expect(await rejected(promise as Promise<unknown>)).toBeInstanceOf(TypeError);
    }
    await client.close();
  });
});
