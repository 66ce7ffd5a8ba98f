export { normalizeHtu } from "./htu.js";
export {
  DPOP_ALGORITHMS,
  type DpopAlgorithm,
  type DpopKey,
  type DpopPrivateKeyInput,
  type DpopPublicKeyInput,
  generateDpopKey,
  importDpopKey,
} from "./key.js";
export { createDpopNonce, type DpopNonceOptions, type DpopNonceSource } from "./nonce.js";
export { accessTokenHash, createDpopProof, type DpopProofInput, htuOf } from "./proof.js";
export {
  createMemoryReplayStore,
  type MemoryReplayStore,
  type MemoryReplayStoreOptions,
  type ReplayStore,
} from "./replay-store.js";
export {
  createDpopProofVerifier,
  type DpopOptions,
  type DpopProof,
  type DpopProofVerifier,
  type DpopRequest,
} from "./verify.js";
