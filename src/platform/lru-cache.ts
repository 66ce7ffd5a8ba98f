// Outside Node (Workers, Deno Deploy, browsers, `platform: "neutral"` bundles) the package's
// `#lru-cache` import resolves to this file, built with lru-cache's browser build inside: lru-cache's
// default build has a dynamic `import("node:diagnostics_channel")` that such bundlers keep.
export { LRUCache } from "lru-cache";
