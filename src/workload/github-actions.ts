/**
 * GitHub Actions' OIDC token endpoint as an assertion source ("Configuring OpenID Connect in cloud
 * providers", GitHub Docs): a job with `permissions: id-token: write` gets `ACTIONS_ID_TOKEN_REQUEST_URL`
 * and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; a GET of the URL with `&audience=…` appended and
 * `Authorization: bearer <request token>` answers `{ "value": "<JWT>" }`.
 */
import { type FetchLike, fetchText, isLoopbackHost, parseJsonObject, ResponseTooLarge } from "../lib/http.js";
import { describeNetworkError } from "../lib/network-error.js";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { type AssertionSource, SourceFailure } from "./source.js";

/** Options of {@link githubActionsAssertion}. */
export interface GithubActionsAssertionOptions {
  /**
   * The `aud` the token is issued for: what the authorization server expects of it (Entra:
   * `api://AzureADTokenExchange`; the dev server and most others: their issuer or the audience of the
   * federated credential). Required.
   */
  audience: string;
  /**
   * The job's `ACTIONS_ID_TOKEN_REQUEST_URL`: `https:` (`http:` only on a loopback host), without a
   * fragment. Required (`m2m-kit/node` reads it from the environment).
   */
  requestUrl: string;
  /** The job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. Required (`m2m-kit/node` reads it from the environment). */
  requestToken: string;
  /** `fetch` for the request. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Timeout of each request, in ms. Default 10 000. */
  timeoutMs?: number;
}

/** The names of {@link GithubActionsAssertionOptions}. */
export const GITHUB_ACTIONS_ASSERTION_OPTION_NAMES: OptionNames<GithubActionsAssertionOptions> = {
  audience: true,
  requestUrl: true,
  requestToken: true,
  fetch: true,
  timeoutMs: true,
};

const WHERE = "githubActionsAssertion()";

/** The URL without its query and fragment: what messages may show of it. */
function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * An {@link AssertionSource} that asks GitHub Actions' OIDC endpoint for a new token on every token
 * request. Errors name the endpoint without its query; the request token and the ID token never
 * appear in a message, `toString` or `inspect`.
 *
 * @throws TypeError at creation for a missing or malformed option (naming it).
 * @example
 * ```ts
 * new ClientCredentialsClient({
 *   issuer, clientId,
 *   clientAssertion: githubActionsAssertion({
 *     audience: "api://AzureADTokenExchange",
 *     requestUrl: env.ACTIONS_ID_TOKEN_REQUEST_URL,
 *     requestToken: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
 *   }),
 * });
 * ```
 */
export function githubActionsAssertion(options: GithubActionsAssertionOptions): AssertionSource {
  if (typeof options !== "object" || options === null)
    throw new TypeError(`${WHERE} options must be an object`);
  checkOptionNames(options, [GITHUB_ACTIONS_ASSERTION_OPTION_NAMES], WHERE);
  const { audience, requestUrl, requestToken, timeoutMs = 10_000 } = options;
  if (typeof audience !== "string" || audience === "") {
    throw new TypeError(
      `${WHERE}: audience must be a non-empty string (the aud the authorization server expects)`,
    );
  }
  if (typeof requestUrl !== "string" || requestUrl === "") {
    throw new TypeError(`${WHERE}: requestUrl must be a non-empty string (ACTIONS_ID_TOKEN_REQUEST_URL)`);
  }
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new TypeError(`${WHERE}: requestUrl is not a valid URL`);
  }
  // The request token goes with every request: in clear only to this machine.
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new TypeError(`${WHERE}: requestUrl must be an https: URL (http: only on a loopback host)`);
  }
  if (url.hash !== "") {
    throw new TypeError(`${WHERE}: requestUrl must not have a fragment (audience is appended to its query)`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(`${WHERE}: requestUrl must not contain credentials (user:password@)`);
  }
  if (typeof requestToken !== "string" || requestToken === "") {
    throw new TypeError(`${WHERE}: requestToken must be a non-empty string (ACTIONS_ID_TOKEN_REQUEST_TOKEN)`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(`${WHERE}: fetch must be a function`);
  }
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`${WHERE}: timeoutMs must be a positive finite number`);
  }
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const shown = shownUrl(url);
  const description = `GitHub Actions OIDC endpoint ${shown} (audience ${audience})`;
  const target = `${requestUrl}${requestUrl.includes("?") ? "&" : "?"}audience=${encodeURIComponent(audience)}`;
  const failed = (why: string, transient: boolean, cause?: unknown) =>
    new SourceFailure(why, { transient, cause });

  const source: AssertionSource = {
    description,
    kind: "jwt-bearer",
    async getAssertion({ signal }) {
      let answer: { response: Response; text: string };
      try {
        answer = await fetchText(
          fetchImpl,
          target,
          { method: "GET", headers: { authorization: `bearer ${requestToken}`, accept: "application/json" } },
          timeoutMs,
          signal,
        );
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof ResponseTooLarge) throw failed(error.message, false, error);
        throw failed(describeNetworkError(error, shown), true, error);
      }
      const { response, text } = answer;
      if (!response.ok) {
        const transient = response.status >= 500 || response.status === 429 || response.status === 408;
        const why =
          response.status === 401 || response.status === 403
            ? `answered ${response.status}; the job needs \`permissions: id-token: write\` and a current ACTIONS_ID_TOKEN_REQUEST_TOKEN`
            : `answered ${response.status}`;
        throw failed(why, transient);
      }
      const value = parseJsonObject(text)?.value;
      if (typeof value !== "string" || value === "") throw failed("the answer has no value member", false);
      return value;
    },
  };
  Object.defineProperty(source, "toString", { value: () => description, enumerable: false });
  return source;
}
