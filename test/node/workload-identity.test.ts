/**
 * `workloadIdentity()` picks the platform's identity — Azure workload identity, then GitHub Actions,
 * then an explicit token file — says which, names the variables it looked at when it finds none, and
 * never uses the pod's default service-account token (its audience is the cluster's API server), by
 * path, through a link, or by its audience.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientAssertionError, ClientCredentialsClient } from "../../src/index.js";
import { fileAssertion, workloadIdentity } from "../../src/node/index.js";
import { mintAssertion, type TokenFile, tokenFile } from "../support/assertions.js";
import { type GithubOidcServer, startGithubOidc } from "../support/github-oidc.js";
import {
  type ClientKeys,
  defaultClients,
  generateClientKeys,
  type RunningProvider,
  startProvider,
} from "../support/oidc.js";

const API = "https://api.example.com";
const DEFAULT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";
let as: RunningProvider;
let keys: ClientKeys;
let github: GithubOidcServer;
let file: TokenFile;

const assertion = (aud: string | string[] = as.issuer) =>
  mintAssertion(keys.rsa.privateKey, { iss: "rsa-client", sub: "rsa-client", aud, kid: "rsa-1" });

beforeAll(async () => {
  keys = await generateClientKeys();
  as = await startProvider({ clients: defaultClients(keys) });
  github = await startGithubOidc(() => assertion());
  file = tokenFile();
  file.write(await assertion());
});
afterAll(async () => {
  file?.remove();
  await Promise.all([as?.close(), github?.close()]);
});

const azureEnv = () => ({
  AZURE_FEDERATED_TOKEN_FILE: file.path,
  AZURE_CLIENT_ID: "rsa-client",
  AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
});
const githubEnv = () => ({
  ACTIONS_ID_TOKEN_REQUEST_URL: github.requestUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: github.requestToken,
});

/**
 * A token from the local server with the identity's assertion (the issuer is the local one). The file
 * gets a new assertion first: oidc-provider takes each of its client's own assertions once.
 */
async function tokenWith(identity: ReturnType<typeof workloadIdentity>) {
  file.write(await assertion());
  const client = new ClientCredentialsClient({
    issuer: as.issuer,
    clientId: "rsa-client",
    clientAssertion: identity.clientAssertion,
  });
  try {
    return await client.getToken({ audience: API });
  } finally {
    await client.close();
  }
}

describe("workloadIdentity picks one platform and says which", () => {
  it("Azure workload identity first: issuer, client id and the token file", async () => {
    // GitHub Actions' variables are there too: Azure wins.
    const identity = workloadIdentity({ env: { ...githubEnv(), ...azureEnv() }, audience: "x" });
    expect(identity).toMatchObject({
      source: "azure",
      issuer: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
      clientId: "rsa-client",
      provider: "entra",
    });
    expect(identity.description).toBe(
      `Azure workload identity: token file ${file.path} (AZURE_FEDERATED_TOKEN_FILE), client rsa-client, issuer https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0`,
    );
    github.requests.length = 0;
    expect((await tokenWith(identity)).accessToken).toBeTruthy();
    expect(github.requests).toHaveLength(0);
    // Without AZURE_AUTHORITY_HOST: the public cloud.
    const { AZURE_AUTHORITY_HOST: _, ...withoutHost } = azureEnv();
    expect(workloadIdentity({ env: withoutHost }).issuer).toBe(
      "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    );
  });

  it("an incomplete Azure environment names what is missing and what it looked at", () => {
    const { AZURE_TENANT_ID: _, ...env } = azureEnv();
    expect(() => workloadIdentity({ env })).toThrow(
      "workloadIdentity(): AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID is not (looked at AZURE_FEDERATED_TOKEN_FILE (with AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST), ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, and the tokenFile option)",
    );
  });

  it("GitHub Actions next: the job's OIDC endpoint, for the audience given", async () => {
    const identity = workloadIdentity({
      env: githubEnv(),
      audience: "api://AzureADTokenExchange",
      tokenFile: file.path,
    });
    expect(identity.source).toBe("github-actions");
    expect(identity.issuer).toBeUndefined();
    expect(identity.description).toBe(
      "GitHub Actions OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN) for audience api://AzureADTokenExchange",
    );
    github.requests.length = 0;
    expect((await tokenWith(identity)).accessToken).toBeTruthy();
    expect(github.requests.map((r) => r.audience)).toEqual(["api://AzureADTokenExchange"]);
    expect(inspect(identity, { depth: 5 }) + JSON.stringify(identity)).not.toContain(github.requestToken);
    expect(() => workloadIdentity({ env: githubEnv() })).toThrow(
      /GitHub Actions found \(ACTIONS_ID_TOKEN_REQUEST_URL\); audience is required/,
    );
  });

  it("then only an explicit tokenFile", async () => {
    const identity = workloadIdentity({ env: {}, tokenFile: file.path });
    expect(identity).toMatchObject({
      source: "token-file",
      description: `token file ${file.path} (the tokenFile option)`,
    });
    expect((await tokenWith(identity)).accessToken).toBeTruthy();
  });

  it("nothing found: a TypeError naming every variable looked at; never the default service-account token", () => {
    expect(() => workloadIdentity({ env: {} })).toThrow(
      "workloadIdentity(): no workload identity found; looked at AZURE_FEDERATED_TOKEN_FILE (with AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST), ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, and the tokenFile option. The pod's default service-account token is never used (its audience is the cluster's API server): mount a projected service-account token with the authorization server as its audience and pass its path as tokenFile",
    );
  });
});

describe("workloadIdentity's options", () => {
  it("a bad option is a TypeError naming it, whichever platform is found", () => {
    const environments = { azure: azureEnv(), "github-actions": githubEnv(), none: {} };
    for (const [name, env] of Object.entries(environments)) {
      const audience = name === "github-actions" ? { audience: "api://AzureADTokenExchange" } : {};
      expect(() => workloadIdentity({ env, ...audience, tokenFile: 42 as never }), name).toThrow(
        "workloadIdentity(): tokenFile must be a string (the path of a token file)",
      );
      expect(
        () => workloadIdentity({ env, ...audience, tokenFile: file.path, kind: "jwt-svid" as never }),
        name,
      ).toThrow('workloadIdentity(): kind must be "jwt-bearer" or "jwt-spiffe"');
      expect(() => workloadIdentity({ env, tokenFile: file.path, audience: ["a"] as never }), name).toThrow(
        "workloadIdentity(): audience must be a string",
      );
      expect(
        () => workloadIdentity({ env, ...audience, tokenFile: file.path, fetch: "x" as never }),
        name,
      ).toThrow("workloadIdentity(): fetch must be a function");
    }
  });

  it("an empty string, as an unset environment variable gives it, counts as not given", () => {
    expect(workloadIdentity({ env: azureEnv(), tokenFile: "", audience: "" }).source).toBe("azure");
    expect(() => workloadIdentity({ env: {}, tokenFile: "" })).toThrow(
      "workloadIdentity(): no workload identity found",
    );
    expect(() => workloadIdentity({ env: githubEnv(), audience: "" })).toThrow(/audience is required/);
  });
});

describe("the pod's default service-account token is refused", () => {
  it("by path, as tokenFile or to fileAssertion", () => {
    for (const path of [
      DEFAULT_TOKEN,
      "/run/secrets/kubernetes.io/serviceaccount/token",
      "/var/run/secrets/kubernetes.io/serviceaccount/../serviceaccount/token",
    ]) {
      expect(() => workloadIdentity({ env: {}, tokenFile: path })).toThrow(TypeError);
      expect(() => fileAssertion(path)).toThrow(
        `fileAssertion: ${path.replace("/../serviceaccount", "")} is the pod's default service-account token, whose audience is the cluster's API server`,
      );
    }
  });

  it("by its audience, wherever the file is: ERR_CLIENT_ASSERTION and no request", async () => {
    const copied = tokenFile();
    try {
      copied.write(await assertion(["https://kubernetes.default.svc.cluster.local", "k3s"]));
      const client = new ClientCredentialsClient({
        issuer: as.issuer,
        clientId: "rsa-client",
        clientAssertion: fileAssertion(copied.path),
      });
      as.resetCount();
      const error = await client.getToken({ audience: API }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClientAssertionError);
      expect(error).toMatchObject({ problem: "refused", source: `file ${copied.path}` });
      expect((error as Error).message).toMatch(/it is the pod's default service-account token/);
      expect(as.tokenRequests).toBe(0);
      await client.close();
    } finally {
      copied.remove();
    }
  });
});
