import type { FetchLike } from "../lib/http.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { githubActionsAssertion as githubActionsAssertionFrom } from "../workload/github-actions.js";
import type { AssertionKind, AssertionSource } from "../workload/source.js";
import { fileAssertion } from "./file-assertion.js";

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Options of {@link githubActionsAssertion} in `m2m-kit/node`. */
export interface NodeGithubActionsAssertionOptions {
  /** The `aud` the token is issued for: what the authorization server expects. Required. */
  audience: string;
  /** Default: `ACTIONS_ID_TOKEN_REQUEST_URL` of `env`. */
  requestUrl?: string;
  /** Default: `ACTIONS_ID_TOKEN_REQUEST_TOKEN` of `env`. */
  requestToken?: string;
  /** Where the variables are read. Default `process.env`. */
  env?: Environment;
  /** `fetch` for the request. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Timeout of each request, in ms. Default 10 000. */
  timeoutMs?: number;
}

/** The names of {@link NodeGithubActionsAssertionOptions}. */
export const NODE_GITHUB_ACTIONS_ASSERTION_OPTION_NAMES: OptionNames<NodeGithubActionsAssertionOptions> = {
  audience: true,
  requestUrl: true,
  requestToken: true,
  env: true,
  fetch: true,
  timeoutMs: true,
};

const URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL";
const TOKEN_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

function environment(env: unknown, where: string): Environment {
  if (env === undefined) return process.env;
  if (typeof env !== "object" || env === null)
    throw new TypeError(`${where}: env must be an object of strings`);
  return env as Environment;
}

/**
 * GitHub Actions' OIDC token as an {@link AssertionSource}, with the request URL and token read from
 * `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (set in a job with
 * `permissions: id-token: write`). A new token is asked for on every token request.
 *
 * @throws TypeError when a variable is missing (naming it and the job permission), or for a bad option.
 * @example
 * ```ts
 * new ClientCredentialsClient({
 *   issuer, clientId,
 *   clientAssertion: githubActionsAssertion({ audience: "api://AzureADTokenExchange" }),
 * });
 * ```
 */
export function githubActionsAssertion(options: NodeGithubActionsAssertionOptions): AssertionSource {
  const where = "githubActionsAssertion()";
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${where} options must be an object`);
  checkOptionNames(options, [NODE_GITHUB_ACTIONS_ASSERTION_OPTION_NAMES], where);
  const { env: given, requestUrl, requestToken, ...rest } = options;
  const env = environment(given, where);
  const url = requestUrl ?? env[URL_VARIABLE];
  const token = requestToken ?? env[TOKEN_VARIABLE];
  const missing = [url ? undefined : URL_VARIABLE, token ? undefined : TOKEN_VARIABLE].filter(Boolean);
  if (missing.length > 0) {
    throw new TypeError(
      `${where}: ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not set; GitHub sets them in a job with \`permissions: id-token: write\``,
    );
  }
  return githubActionsAssertionFrom({ ...rest, requestUrl: url as string, requestToken: token as string });
}

/** Options of {@link workloadIdentity}. */
export interface WorkloadIdentityOptions {
  /** Where the platform's variables are read. Default `process.env`. */
  env?: Environment;
  /**
   * A token file to use when neither Azure nor GitHub Actions is found: a Kubernetes projected
   * service-account token whose audience is your authorization server, a SPIFFE JWT-SVID file. Never
   * the pod's default service-account token (refused).
   */
  tokenFile?: string;
  /** What `tokenFile` holds (see `fileAssertion`). Default `"jwt-bearer"`. */
  kind?: AssertionKind;
  /**
   * The `aud` to ask GitHub Actions for (the authorization server's expected audience; Entra:
   * `api://AzureADTokenExchange`). Required when GitHub Actions is the one found.
   */
  audience?: string;
  /** `fetch` for GitHub Actions' OIDC endpoint. Default: the global `fetch`. */
  fetch?: FetchLike;
}

/** The names of {@link WorkloadIdentityOptions}. */
export const WORKLOAD_IDENTITY_OPTION_NAMES: OptionNames<WorkloadIdentityOptions> = {
  env: true,
  tokenFile: true,
  kind: true,
  audience: true,
  fetch: true,
};

/** The identity {@link workloadIdentity} found, ready for `ClientCredentialsClient`'s options. */
export interface WorkloadIdentity {
  /**
   * Which was chosen: `azure` (Azure workload identity: AKS or any Kubernetes with the webhook),
   * `github-actions` (a job's OIDC token) or `token-file` (the `tokenFile` option).
   */
  source: "azure" | "github-actions" | "token-file";
  /** The same in words, with the variables and path used (never a token), for a startup log line. */
  description: string;
  /** The `clientAssertion` option. */
  clientAssertion: AssertionSource;
  /** The issuer, when the platform names it (Azure: `{AZURE_AUTHORITY_HOST}{AZURE_TENANT_ID}/v2.0`). */
  issuer?: string;
  /** The client id, when the platform names it (Azure: `AZURE_CLIENT_ID`). */
  clientId?: string;
  /** The provider preset, when the platform implies one (Azure: `entra`). */
  provider?: "entra";
}

const LOOKED_AT =
  "AZURE_FEDERATED_TOKEN_FILE (with AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST), ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, and the tokenFile option";

/**
 * Finds the workload's platform identity, in this order: Azure workload identity
 * (`AZURE_FEDERATED_TOKEN_FILE` with `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and `AZURE_AUTHORITY_HOST`,
 * giving issuer, client id and assertion), GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` and
 * `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), then the explicit `tokenFile`. It never falls back to the pod's
 * default service-account token, whose audience is the cluster's API server. `source` and
 * `description` say which it chose.
 *
 * @throws TypeError when none is found or one is incomplete, naming the variables it looked at; for a
 *   bad option (naming it), whichever platform is found.
 * @example
 * ```ts
 * const identity = workloadIdentity({ tokenFile: "/var/run/secrets/tokens/m2m-token" });
 * console.info(`workload identity: ${identity.description}`);
 * const client = new ClientCredentialsClient({
 *   issuer: identity.issuer ?? "https://auth.example.com/",
 *   clientId: identity.clientId ?? "orders-worker",
 *   clientAssertion: identity.clientAssertion,
 * });
 * ```
 */
export function workloadIdentity(options: WorkloadIdentityOptions = {}): WorkloadIdentity {
  const where = "workloadIdentity()";
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${where} options must be an object`);
  checkOptionNames(options, [WORKLOAD_IDENTITY_OPTION_NAMES], where);
  const env = environment(options.env, where);
  // Every option is checked whichever platform is found: the same code runs on the others. An empty
  // string (an empty environment variable) counts as not given.
  const { tokenFile, kind, audience } = options;
  if (tokenFile !== undefined && typeof tokenFile !== "string") {
    throw new TypeError(`${where}: tokenFile must be a string (the path of a token file)`);
  }
  if (kind !== undefined && kind !== "jwt-bearer" && kind !== "jwt-spiffe") {
    throw new TypeError(`${where}: kind must be "jwt-bearer" or "jwt-spiffe"`);
  }
  if (audience !== undefined && typeof audience !== "string") {
    throw new TypeError(`${where}: audience must be a string (the aud the authorization server expects)`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(`${where}: fetch must be a function`);
  }

  const azureFile = env.AZURE_FEDERATED_TOKEN_FILE;
  if (azureFile) {
    const clientId = env.AZURE_CLIENT_ID;
    const tenantId = env.AZURE_TENANT_ID;
    const missing = [
      clientId ? undefined : "AZURE_CLIENT_ID",
      tenantId ? undefined : "AZURE_TENANT_ID",
    ].filter(Boolean);
    if (missing.length > 0) {
      throw new TypeError(
        `${where}: AZURE_FEDERATED_TOKEN_FILE is set but ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not (looked at ${LOOKED_AT})`,
      );
    }
    const host = env.AZURE_AUTHORITY_HOST || "https://login.microsoftonline.com/";
    const issuer = `${host.endsWith("/") ? host : `${host}/`}${tenantId}/v2.0`;
    return {
      source: "azure",
      description: `Azure workload identity: token file ${azureFile} (AZURE_FEDERATED_TOKEN_FILE), client ${clientId}, issuer ${issuer}`,
      clientAssertion: fileAssertion(azureFile),
      issuer,
      clientId: clientId as string,
      provider: "entra",
    };
  }

  if (env[URL_VARIABLE] || env[TOKEN_VARIABLE]) {
    if (!audience) {
      throw new TypeError(
        `${where}: GitHub Actions found (${URL_VARIABLE}); audience is required: the aud the authorization server expects of the job's token`,
      );
    }
    const clientAssertion = githubActionsAssertion({
      audience,
      env,
      ...(options.fetch && { fetch: options.fetch }),
    });
    return {
      source: "github-actions",
      description: `GitHub Actions OIDC token (${URL_VARIABLE}, ${TOKEN_VARIABLE}) for audience ${audience}`,
      clientAssertion,
    };
  }

  if (tokenFile) {
    const clientAssertion = fileAssertion(tokenFile, kind ? { kind } : {});
    return {
      source: "token-file",
      description: `token ${clientAssertion.description ?? tokenFile} (the tokenFile option)`,
      clientAssertion,
    };
  }

  throw new TypeError(
    `${where}: no workload identity found; looked at ${LOOKED_AT}. The pod's default service-account token is never used (its audience is the cluster's API server): mount a projected service-account token with the authorization server as its audience and pass its path as tokenFile`,
  );
}
