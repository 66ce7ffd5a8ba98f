/**
 * `client.fetch` resends a request after a 401 only when its body can be read again. A body that can
 * be read once (an async iterable sent with `duplex: "half"`, a Node `Readable`, a `ReadableStream`)
 * is never resent empty: that 401 goes to the caller as it is. A real API on 127.0.0.1 records every
 * body it receives and refuses the first token it sees; tokens come from a real token endpoint; the
 * transport is `createNodeFetch` (undici).
 */
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { FormData as UndiciFormData } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent } from "../../src/index.js";
import { createNodeFetch } from "../../src/node/index.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";
import { listen } from "../support/http.js";

interface Received {
  token: string;
  body: string;
  status: number;
}

let as: FaultServer;
let api: { url: string; close: () => Promise<void> };
const received: Received[] = [];
let refused: string | undefined;
const transport = createNodeFetch({ proxy: false });

beforeAll(async () => {
  as = await startFaultServer();
  api = await listen(
    createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      // The first token this API sees has been revoked; every other one is accepted.
      refused ??= token;
      const status = token === refused ? 401 : 200;
      received.push({ token, body: Buffer.concat(chunks).toString("utf8"), status });
      res
        .writeHead(status, status === 401 ? { "www-authenticate": 'Bearer error="invalid_token"' } : {})
        .end(status === 200 ? "created" : "");
    }),
  );
});
afterAll(async () => {
  await api.close();
  await as.close();
  await transport.close();
});
let round = 0;
beforeEach(() => {
  received.length = 0;
  refused = undefined;
  round++;
  as.script(tokenReply({ access_token: `revoked-${round}` }), tokenReply({ access_token: `fresh-${round}` }));
});

function newClient(events: ClientEvent[] = []) {
  return new ClientCredentialsClient({
    tokenEndpoint: as.tokenEndpoint,
    clientId: "orders-job",
    clientSecret: "orders-secret",
    defaultAudience: "https://orders.example.com",
    fetch: transport,
    onEvent: (event) => events.push(event),
  });
}

const ORDER = '{"order":42,"items":["a","b"]}';

async function* streamed(): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(ORDER);
  yield bytes.slice(0, 10);
  yield bytes.slice(10);
}

describe("a body that can be read once is never resent", () => {
  it.each([
    ["an async generator (duplex: half)", () => streamed()],
    ["a Node Readable (duplex: half)", () => Readable.from([Buffer.from(ORDER)])],
    ["a ReadableStream (duplex: half)", () => Readable.toWeb(Readable.from([Buffer.from(ORDER)]))],
  ])("%s: the 401 is returned as it is, the API saw one whole body", async (_, body) => {
    const events: ClientEvent[] = [];
    const client = newClient(events);
    const response = await client.fetch(`${api.url}/orders`, {
      method: "POST",
      body: body() as never,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(401);
    expect(received.map((r) => [r.status, r.body])).toEqual([[401, ORDER]]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: "unauthorized", action: "returned", reason: "not_replayable" }),
    );
    await client.close();
  });
});

describe("a body read from memory is resent whole with the new token", () => {
  it.each([
    ["a string", () => ORDER, ORDER],
    ["a Uint8Array", () => new TextEncoder().encode(ORDER), ORDER],
    ["an ArrayBuffer", () => new TextEncoder().encode(ORDER).buffer, ORDER],
    ["a Blob", () => new Blob([ORDER]), ORDER],
    ["URLSearchParams", () => new URLSearchParams({ order: "42" }), "order=42"],
  ])("%s", async (_, body, sent) => {
    const client = newClient();
    const response = await client.fetch(`${api.url}/orders`, { method: "POST", body: body() });
    expect(response.status).toBe(200);
    expect(received.map((r) => [r.status, r.body])).toEqual([
      [401, sent],
      [200, sent],
    ]);
    expect(received[0]!.token).not.toBe(received[1]!.token);
    await client.close();
  });

  it("FormData (undici's, which the undici transport sends)", async () => {
    const client = newClient();
    const form = new UndiciFormData();
    form.set("order", "42");
    const response = await client.fetch(`${api.url}/orders`, { method: "POST", body: form as never });
    expect(response.status).toBe(200);
    expect(received).toHaveLength(2);
    for (const { body } of received) expect(body).toMatch(/name="order"\r\n\r\n42\r\n/);
    await client.close();
  });

  it("an init inherited from a prototype keeps its method and body", async () => {
    const client = newClient();
    const init = Object.assign(Object.create({ method: "POST", body: ORDER }), { audience: undefined });
    const response = await client.fetch(`${api.url}/orders`, init);
    expect(response.status).toBe(200);
    expect(received.map((r) => r.body)).toEqual([ORDER, ORDER]);
    await client.close();
  });
});
