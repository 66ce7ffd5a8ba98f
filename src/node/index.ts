export type { EncryptionKeyInput } from "../lib/token-crypto.js";
export { createNodeFetch, type NodeFetch } from "./fetch.js";
export type { NodeFetchOptions, PemInput } from "./fetch-options.js";
export { type FileAssertionOptions, fileAssertion } from "./file-assertion.js";
export { type FileStoreEvent, FileTokenStore, type FileTokenStoreOptions } from "./file-store.js";
export {
  type Environment,
  githubActionsAssertion,
  type NodeGithubActionsAssertionOptions,
  type WorkloadIdentity,
  type WorkloadIdentityOptions,
  workloadIdentity,
} from "./workload-identity.js";
