import type { JWTPayload } from "jose";
import type { OptionNames } from "../lib/option-names.js";

/**
 * Options of {@link TestIssuer.mintKubernetesToken}: a projected service-account token, as the kubelet
 * writes it into a pod for a `serviceAccountToken` volume with its own `audience` (Azure workload
 * identity's `AZURE_FEDERATED_TOKEN_FILE`, Vault, a dev server's federated credential).
 */
export interface KubernetesTokenOptions {
  /** `aud`: the audience of the projected volume (`api://AzureADTokenExchange`, an issuer URL). */
  audience: string | string[];
  /** The service account's namespace. Default `default`. */
  namespace?: string;
  /** The service account's name. Default `default`. */
  serviceAccount?: string;
  /** The pod the token is bound to (`kubernetes.io.pod.name`). Default `<serviceAccount>-0`. */
  pod?: string;
  /** The node the pod runs on (`kubernetes.io.node.name`). Default `node-0`. */
  node?: string;
  /** Lifetime. Default 3600 s (the kubelet's default `expirationSeconds`); negative: already expired. */
  expiresInSeconds?: number;
  /** Extra or replaced claims. */
  claims?: JWTPayload;
  /** Sign with a key that is not in the JWKS (a forged token). */
  forged?: boolean;
}

/** The names of {@link KubernetesTokenOptions}. */
export const KUBERNETES_TOKEN_OPTION_NAMES: OptionNames<KubernetesTokenOptions> = {
  audience: true,
  namespace: true,
  serviceAccount: true,
  pod: true,
  node: true,
  expiresInSeconds: true,
  claims: true,
  forged: true,
};

/**
 * Options of {@link TestIssuer.mintGitHubActionsToken}: a GitHub Actions OIDC token, as a job with
 * `permissions: id-token: write` gets it from `ACTIONS_ID_TOKEN_REQUEST_URL`.
 */
export interface GitHubActionsTokenOptions {
  /** `owner/repo`. Default `octo-org/octo-repo`. */
  repository?: string;
  /** The Git ref of the run. Default `refs/heads/main`. */
  ref?: string;
  /** The deployment environment of the job: `sub` becomes `repo:<repository>:environment:<environment>`. */
  environment?: string;
  /** The event that started the run. Default `push`; `pull_request` makes `sub` `repo:<repository>:pull_request`. */
  eventName?: string;
  /** The workflow file. Default `.github/workflows/ci.yml`. */
  workflowPath?: string;
  /** The user who started the run. Default `octocat`. */
  actor?: string;
  /** `aud`. Default `https://github.com/<owner>`, as GitHub's when the request names none. */
  audience?: string | string[];
  /** Lifetime. Default 300 s; negative: already expired. */
  expiresInSeconds?: number;
  /** Extra or replaced claims. */
  claims?: JWTPayload;
  /** Sign with a key that is not in the JWKS (a forged token). */
  forged?: boolean;
}

/** The names of {@link GitHubActionsTokenOptions}. */
export const GITHUB_ACTIONS_TOKEN_OPTION_NAMES: OptionNames<GitHubActionsTokenOptions> = {
  repository: true,
  ref: true,
  environment: true,
  eventName: true,
  workflowPath: true,
  actor: true,
  audience: true,
  expiresInSeconds: true,
  claims: true,
  forged: true,
};

/** A number that looks like an id, stable for the same text (tokens of one repository agree). */
function idOf(text: string): string {
  let hash = 7;
  for (const char of text) hash = (hash * 31 + (char.codePointAt(0) as number)) % 999_999_937;
  return String(100_000_000 + hash);
}

function uid(): string {
  return crypto.randomUUID();
}

/** The claims of a projected service-account token (Kubernetes 1.30: node and pod bound). */
export function kubernetesClaims(options: KubernetesTokenOptions): JWTPayload {
  if (options.audience === undefined) throw new TypeError("mintKubernetesToken() needs an audience");
  const namespace = options.namespace ?? "default";
  const serviceAccount = options.serviceAccount ?? "default";
  return {
    aud: Array.isArray(options.audience) ? options.audience : [options.audience],
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
    "kubernetes.io": {
      namespace,
      node: { name: options.node ?? "node-0", uid: uid() },
      pod: { name: options.pod ?? `${serviceAccount}-0`, uid: uid() },
      serviceaccount: { name: serviceAccount, uid: uid() },
    },
    ...options.claims,
  };
}

/** The claims of a GitHub Actions OIDC token (GitHub's documented claim set). */
export function gitHubActionsClaims(options: GitHubActionsTokenOptions): JWTPayload {
  const repository = options.repository ?? "octo-org/octo-repo";
  const [owner = repository] = repository.split("/");
  const ref = options.ref ?? "refs/heads/main";
  const eventName = options.eventName ?? "push";
  const workflowRef = `${repository}/${options.workflowPath ?? ".github/workflows/ci.yml"}@${ref}`;
  const sha = idOf(`${repository}@${ref}`).repeat(5).slice(0, 40);
  const sub = options.environment
    ? `repo:${repository}:environment:${options.environment}`
    : eventName === "pull_request"
      ? `repo:${repository}:pull_request`
      : `repo:${repository}:ref:${ref}`;
  const runId = idOf(`${repository} ${Date.now()}`);
  return {
    aud: options.audience ?? `https://github.com/${owner}`,
    sub,
    ref,
    sha,
    repository,
    repository_owner: owner,
    repository_owner_id: idOf(owner),
    repository_id: idOf(repository),
    repository_visibility: "private",
    run_id: runId,
    run_number: "1",
    run_attempt: "1",
    actor: options.actor ?? "octocat",
    actor_id: idOf(options.actor ?? "octocat"),
    workflow: "CI",
    workflow_ref: workflowRef,
    workflow_sha: sha,
    job_workflow_ref: workflowRef,
    job_workflow_sha: sha,
    head_ref: "",
    base_ref: "",
    event_name: eventName,
    ref_type: ref.startsWith("refs/tags/") ? "tag" : "branch",
    ref_protected: "false",
    runner_environment: "github-hosted",
    ...(options.environment ? { environment: options.environment } : {}),
    ...options.claims,
  };
}
