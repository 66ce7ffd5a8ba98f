/**
 * The first call of a client with a source reads the source to learn whose credential it is (the
 * cache key holds its iss, sub and aud). That read is part of the call: the caller's signal ends the
 * wait, `close()` ends it for everyone, and a source that answers without a promise still answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AssertionSource,
  ClientClosedError,
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
} from "../../src/index.js";
import { mintAssertion } from "../support/assertions.js";
import { type FaultServer, startFaultServer } from "../support/fault-server.js";

const API = "https://api.example.com";
const key = new TextEncoder().encode("platform-signing-key-0123456789abcdef");
let server: FaultServer;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await server?.close();
});

const platformToken = (sub: string) =>
  mintAssertion(key, { iss: "https://platform.example", sub, aud: "m2m", alg: "HS256" });

/** A source that never answers (a stuck sidecar, a hung metadata endpoint) and ignores its signal. */
function stuckSource(onAsked: () => void): AssertionSource {
  return {
    description: "stuck sidecar",
    getAssertion: () => {
      onAsked();
      return new Promise<string>(() => {});
    },
  };
}

/** Long enough that a call still waiting for the source shows up as a failed expectation. */
const slow: Partial<ClientCredentialsClientOptions> = { timeoutMs: 60_000, retry: false };

describe("the first read of a source", () => {
  it("ends for a caller whose signal aborts: the call rejects with the signal's reason, no request", {
    timeout: 5_000,
  }, async () => {
    server.requests.length = 0;
    const controller = new AbortController();
    const reason = new Error("the caller gave up");
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "workload",
      clientAssertion: stuckSource(() => queueMicrotask(() => controller.abort(reason))),
      ...slow,
    });
    await expect(client.getToken({ audience: API, signal: controller.signal })).rejects.toBe(reason);
    // A signal aborted before the call: at once, too.
    await expect(client.getToken({ audience: API, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(
      client.exchangeToken({
        subjectToken: await platformToken("alice"),
        audience: API,
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it("ends when the client closes: every waiting call rejects with ClientClosedError, no request", {
    timeout: 5_000,
  }, async () => {
    server.requests.length = 0;
    let client: ClientCredentialsClient | undefined;
    const options = {
      tokenEndpoint: server.tokenEndpoint,
      clientId: "workload",
      ...slow,
    };
    for (const credential of [
      { clientAssertion: stuckSource(() => queueMicrotask(() => client?.close())) },
      {
        grant: {
          type: "jwt-bearer" as const,
          assertion: stuckSource(() => queueMicrotask(() => client?.close())),
        },
      },
    ]) {
      client = new ClientCredentialsClient({ ...options, ...credential });
      const calls = [client.getToken({ audience: API }), client.getToken({ audience: API })];
      for (const call of calls) await expect(call).rejects.toBeInstanceOf(ClientClosedError);
    }
    expect(server.requests).toHaveLength(0);
  });

  it("a source whose getAssertion answers without a promise is used as it answers", async () => {
    server.requests.length = 0;
    const token = await platformToken("sync-source");
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "workload",
      // As JavaScript callers write it, reading a file synchronously.
      clientAssertion: { description: "sync reader", getAssertion: (() => token) as never },
    });
    await expect(client.getToken({ audience: API })).resolves.toMatchObject({ tokenType: "Bearer" });
    await client.getToken({ audience: API, forceRefresh: true });
    expect(server.requests.map((r) => new URLSearchParams(r.body).get("client_assertion"))).toEqual([
      token,
      token,
    ]);
    await client.close();
  });
});
