/** The framework snippets of docs/protecting-an-api.md (examples/*-api/server.ts) started as processes and called over HTTP. */
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KeyServer, startKeyServer } from "../support/key-server.js";
import { type Started, startProcess } from "../support/process.js";

const root = resolve(import.meta.dirname, "../..");
let ks: KeyServer;
beforeAll(async () => {
  ks = await startKeyServer();
});
afterAll(() => ks.close());

describe.each(["express-api", "fastify-api", "hono-api"])("examples/%s", (example) => {
  let app: Started;
  let url: string;
  beforeAll(async () => {
    app = await startProcess(
      join(root, "node_modules/.bin/tsx"),
      ["--tsconfig", "examples/tsconfig.json", `examples/${example}/server.ts`],
      { cwd: root, env: { ISSUER: ks.issuer, PORT: "0" }, ready: /listening on (http:\/\/127\.0\.0\.1:\d+)/ },
    );
    url = app.match[1] as string;
  }, 60_000);
  afterAll(() => app?.stop());

  it("answers 401 without a token, 200 with read:data, 403 without write:data", async () => {
    expect((await fetch(`${url}/api/data`)).status).toBe(401);
    const reader = await ks.sign({ client_id: "svc", scope: "read:data" });
    const res = await fetch(`${url}/api/data`, { headers: { authorization: `Bearer ${reader}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client: "svc", scopes: ["read:data"] });
    const post = await fetch(`${url}/api/data`, {
      method: "POST",
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(post.status).toBe(403);
    expect(post.headers.get("www-authenticate")).toContain(
      'error="insufficient_scope", error_description="token lacks the scopes: write:data", scope="write:data"',
    );
    const writer = await ks.sign({ client_id: "svc", scope: "write:data" });
    const created = await fetch(`${url}/api/data`, {
      method: "POST",
      headers: { authorization: `Bearer ${writer}` },
    });
    expect(created.status).toBe(201);
  });
});
