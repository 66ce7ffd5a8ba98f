/**
 * The suite's application as a Cloudflare Worker: the client and the verifiers live at module scope
 * (the normal Worker pattern, so caches last across requests). The configuration is put in by the
 * bundler (`M2M_APP`), since the driver's servers have random ports.
 */
import { createApp } from "./app.mjs";

/* global M2M_APP */
const app = createApp(M2M_APP);

export default {
  fetch(request, env, ctx) {
    return app(request, env, ctx);
  },
};
