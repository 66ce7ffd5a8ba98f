export { FileTokenStore, type FileTokenStoreOptions } from "./file-store.js";
