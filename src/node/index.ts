export type { EncryptionKeyInput } from "../lib/token-crypto.js";
export { createNodeFetch, type NodeFetch, type NodeFetchOptions, type PemInput } from "./fetch.js";
export { type FileStoreEvent, FileTokenStore, type FileTokenStoreOptions } from "./file-store.js";
