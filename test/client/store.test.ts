/**
 * A custom `TokenStore` that throws or rejects is bypassed: the call goes on with a fetched token,
 * a `store_failed` event reports it (no secret, no token in it), and nothing but an M2MError escapes.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientEvent,
  M2MError,
  MemoryTokenStore,
  StoreUnavailableError,
  type TokenStore,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";

const SECRET = "store-secret-Hq27";
const TOKEN = "store-token-Lm55";

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.script(tokenReply({ access_token: TOKEN }));
});

function clientWith(store: TokenStore, events: ClientEvent[]) {
  return new ClientCredentialsClient({
    tokenEndpoint: server.tokenEndpoint,
    clientId: "store-client",
    clientSecret: SECRET,
    clock: new ManualClock(),
    store,
    onEvent: (event) => events.push(event),
  });
}

const broken = new Error("disk is full");

describe("a failing TokenStore is bypassed", () => {
  it.each([
    [
      "throws",
      {
        get: () => {
          throw broken;
        },
        set: () => {
          throw broken;
        },
        delete: () => {
          throw broken;
        },
      },
    ],
    [
      "rejects",
      {
        get: () => Promise.reject(broken),
        set: () => Promise.reject(broken),
        delete: () => Promise.reject(broken),
      },
    ],
  ] as [string, TokenStore][])(
    "a store that %s: getToken succeeds and store_failed is emitted",
    async (_how, store) => {
      const events: ClientEvent[] = [];
      const client = clientWith(store, events);
      const token = await client.getToken({ audience: "https://api.example" });
      expect(token.accessToken).toBe(TOKEN);
      const failures = events.filter((e) => e.type === "store_failed");
      expect(failures.map((e) => e.operation)).toEqual(["get", "set"]);
      for (const event of failures) {
        expect(event.error).toBeInstanceOf(StoreUnavailableError);
        expect(event.error).toBeInstanceOf(M2MError);
        expect((event.error as M2MError).code).toBe("ERR_STORE_UNAVAILABLE");
        expect(event.error.cause).toBe(broken);
        const printed = `${inspect(event, { depth: 10 })} ${JSON.stringify(event)}`;
        expect(printed).not.toContain(SECRET);
        expect(printed).not.toContain(TOKEN);
      }
      // While the store fails, tokens are kept in process memory: no token request per call.
      expect((await client.getToken({ audience: "https://api.example" })).accessToken).toBe(TOKEN);
      expect(server.requests).toHaveLength(1);
      // invalidate() goes on too.
      await expect(client.invalidate({ audience: "https://api.example" })).resolves.toBeUndefined();
      expect(events.filter((e) => e.type === "store_failed").map((e) => e.operation)).toContain("delete");
    },
  );
});

describe("a store whose optional members cannot be read is a failing store too", () => {
  /** A working memory store whose `name` getter throws. */
  function withThrowingMember(name: "lease" | "credentialFingerprint" | "deleteGroup"): TokenStore {
    const inner = new MemoryTokenStore();
    const store = {
      get: (key: string) => inner.get(key),
      set: (key: string, token: Parameters<TokenStore["set"]>[1]) => inner.set(key, token),
      delete: (key: string, condition?: { accessToken: string }) => inner.delete(key, condition),
    };
    Object.defineProperty(store, name, {
      get() {
        throw broken;
      },
    });
    return store as TokenStore;
  }

  it.each(["lease", "credentialFingerprint", "deleteGroup"] as const)(
    "%s getter throws: getToken and invalidate succeed",
    async (name) => {
      const events: ClientEvent[] = [];
      const client = clientWith(withThrowingMember(name), events);
      const token = await client.getToken({ audience: "https://api.example" });
      expect(token.accessToken).toBe(TOKEN);
      expect((await client.getToken({ audience: "https://api.example" })).accessToken).toBe(TOKEN);
      await expect(client.invalidate({ audience: "https://api.example" })).resolves.toBeUndefined();
      if (name !== "credentialFingerprint") {
        const failure = events.find((e) => e.type === "store_failed");
        expect(failure?.type === "store_failed" && failure.error.cause).toBe(broken);
      }
    },
  );

  it("a lease that is not { ttlMs, waitTimeoutMs, acquire } is reported, and the client fetches on its own", async () => {
    const events: ClientEvent[] = [];
    const inner = new MemoryTokenStore();
    const store: TokenStore = {
      get: (key) => inner.get(key),
      set: (key, token) => inner.set(key, token),
      delete: (key, condition) => inner.delete(key, condition),
      lease: { ttlMs: 1000, waitTimeoutMs: Number.NaN, acquire: () => undefined },
    };
    const token = await clientWith(store, events).getToken({ audience: "https://api.example" });
    expect(token.accessToken).toBe(TOKEN);
    expect(events.some((e) => e.type === "store_failed" && e.operation === "get")).toBe(true);
  });
});
