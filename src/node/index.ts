export { createNodeFetch, type NodeFetch, type NodeFetchOptions, type PemInput } from "./fetch.js";
