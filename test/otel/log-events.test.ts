/** `logEvents`: a client's events as log lines with levels, in pino's and in console/winston's call style. */
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsClient, type ClientEvent, logEvents } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());

/** Records calls the way a logger receives them. */
function recorder() {
  const lines: Array<{ level: string; args: unknown[] }> = [];
  const at =
    (level: string) =>
    (...args: unknown[]) => {
      lines.push({ level, args });
    };
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

function run(onEvent: (e: ClientEvent) => void) {
  const client = new ClientCredentialsClient({
    tokenEndpoint: server.tokenEndpoint,
    clientId: "log-client",
    clientSecret: "log-secret",
    clock: new ManualClock(),
    onEvent,
  });
  server.script({ status: 503, body: "busy" }, tokenReply({ access_token: "logged-token" }));
  return client.getToken().then(() => client.getToken());
}

describe("logEvents", () => {
  it("message-first (console, winston): retry at warn, fetch at info, cache hits left out at the default level", async () => {
    const { lines, logger } = recorder();
    await run(logEvents(logger));
    expect(lines.map((l) => [l.level, l.args[0]])).toEqual([
      ["warn", "m2m-kit retry"],
      ["info", "m2m-kit token_fetched"],
    ]);
    expect(lines[0]?.args[1]).toMatchObject({ event: "retry", attempt: 1, status: 503 });
    expect(JSON.stringify(lines)).not.toMatch(/logged-token|log-secret/);
  });

  it("fields-first (pino, bunyan), every level from debug, a type turned off", async () => {
    const { lines, logger } = recorder();
    await run(logEvents(logger, { style: "fields-first", level: "debug", levels: { retry: "off" } }));
    expect(lines.map((l) => [l.level, l.args[1]])).toEqual([
      ["debug", "m2m-kit cache_miss"],
      ["info", "m2m-kit token_fetched"],
      ["debug", "m2m-kit cache_hit"],
    ]);
    expect(lines[1]?.args[0]).toMatchObject({ event: "token_fetched", attempts: 2, background: false });
  });

  it("with a real pino logger (fields-first): JSON lines with pino's level numbers, the event's fields and the message", async () => {
    const written: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    await run(logEvents(pino({ level: "debug" }, destination), { style: "fields-first", level: "debug" }));
    const lines = written
      .join("")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.level, l.msg, l.event])).toEqual([
      [20, "m2m-kit cache_miss", "cache_miss"],
      [40, "m2m-kit retry", "retry"],
      [30, "m2m-kit token_fetched", "token_fetched"],
      [20, "m2m-kit cache_hit", "cache_hit"],
    ]);
    expect(lines[1]).toMatchObject({ attempt: 1, status: 503 });
    expect(written.join("")).not.toMatch(/logged-token|log-secret/);
  });

  it("errors become name, code and message; bad options are TypeErrors", async () => {
    const { lines, logger } = recorder();
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "log-client",
      clientSecret: "log-secret",
      onEvent: logEvents(logger),
    });
    server.script({ status: 401, json: { error: "invalid_client" } });
    await client.getToken().catch(() => {});
    const failed = lines.find((l) => l.args[0] === "m2m-kit token_failed");
    expect(failed?.level).toBe("error");
    expect((failed?.args[1] as { error?: unknown } | undefined)?.error).toEqual({
      name: "OAuthError",
      code: "ERR_OAUTH",
      message: "token endpoint answered 401 invalid_client",
    });
    expect(() => logEvents(logger, { style: "json" as never })).toThrow(TypeError);
    expect(() => logEvents(logger, { level: "trace" as never })).toThrow(/level must be/);
  });
});

describe("logEvents levels: a typo never turns an event's logs off", () => {
  it('a level value that is not a level ("eror") is a TypeError at creation, not "off"', async () => {
    const { logger } = recorder();
    expect(() => logEvents(logger, { levels: { token_failed: "eror" as never } })).toThrow(
      new TypeError("levels.token_failed must be one of debug, info, warn, error, off"),
    );
    // Spelt right, the event is logged at that level.
    const { lines, logger: working } = recorder();
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "log-client",
      clientSecret: "log-secret",
      onEvent: logEvents(working, { levels: { token_failed: "warn" } }),
    });
    server.script({ status: 401, json: { error: "invalid_client" } });
    await client.getToken().catch(() => {});
    expect(lines.find((l) => l.args[0] === "m2m-kit token_failed")?.level).toBe("warn");
  });

  it("an event name m2m-kit does not emit is a TypeError with the closest one", () => {
    const { logger } = recorder();
    expect(() => logEvents(logger, { levels: { token_faild: "error" } })).toThrow(
      new TypeError("levels.token_faild is not an event of m2m-kit; did you mean levels.token_failed?"),
    );
    expect(() => logEvents(logger, { levels: Object.create({ retry: "off" }) })).toThrow(
      /levels must be a plain object/,
    );
    // Every event of the client, the verifier, the adapters and the stores is known.
    expect(() =>
      logEvents(logger, {
        levels: {
          jwks_failed: "error",
          request_refused: "warn",
          store_refused: "error",
          entry_refused: "off",
        },
      }),
    ).not.toThrow();
  });
});
