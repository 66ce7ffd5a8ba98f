/**
 * The client assertion, the grant's assertion and subject token, and `exchangeToken`'s subject and
 * actor tokens never appear in an error (message, cause, stack, inspect), an event, a span or metric
 * (m2m-kit/otel through the OpenTelemetry SDK), a log line (logEvents) or the inspect output of a
 * client or source — also when the token endpoint echoes the request into its error, fails with 503,
 * or the assertion is refused before any request.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  ClientCredentialsClient,
  type ClientCredentialsClientOptions,
  type ClientEvent,
  logEvents,
} from "../../src/index.js";
import { fileAssertion } from "../../src/node/index.js";
import { instrument } from "../../src/otel/index.js";
import { startTelemetry, type Telemetry } from "../otel/support.js";
import { mintAssertion, type TokenFile, tokenFile } from "../support/assertions.js";
import { type FaultServer, startFaultServer, tokenReply } from "../support/fault-server.js";

const API = "https://api.example.com";
let server: FaultServer;
let telemetry: Telemetry;
let file: TokenFile;
const key = new TextEncoder().encode("platform-signing-key-0123456789abcdef");

beforeAll(async () => {
  server = await startFaultServer();
  telemetry = startTelemetry();
  file = tokenFile();
});
afterAll(async () => {
  file?.remove();
  await telemetry?.close();
  await server?.close();
});

const platformToken = (sub: string, expiresInSeconds = 600) =>
  mintAssertion(key, { iss: "https://platform.example", sub, aud: "m2m", alg: "HS256", expiresInSeconds });

/** Everything a value shows: inspect (with hidden members and the cause chain), String, JSON, stack. */
function shown(value: unknown): string {
  const parts = [inspect(value, { depth: 10, showHidden: true }), String(value)];
  try {
    parts.push(JSON.stringify(value) ?? "");
  } catch {
    // circular
  }
  for (let error = value, depth = 0; error instanceof Error && depth < 5; depth++) {
    parts.push(error.message, String(error.stack));
    error = (error as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

/** A server that puts what it received into its error, as some do. */
const echoing = {
  status: 400,
  echo: (request: { body: string }) => ({ error: "invalid_grant", error_description: `got ${request.body}` }),
};

it("assertions, subject and actor tokens appear in no error, event, span, metric, log line or inspect output", async () => {
  const events: ClientEvent[] = [];
  const lines: unknown[] = [];
  const at = (level: string) => (message: unknown, fields: unknown) => lines.push({ level, message, fields });
  const log = logEvents(
    { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    { level: "debug" },
  );
  const onEvent = (event: ClientEvent) => {
    events.push(event);
    log(event);
  };
  const errors: unknown[] = [];
  const outputs: unknown[] = [];
  const secrets: string[] = [];
  const make = (options: Partial<ClientCredentialsClientOptions>) => {
    const client = new ClientCredentialsClient({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "workers",
      retry: { minDelayMs: 1, maxDelayMs: 2 },
      onEvent,
      ...options,
    });
    instrument(client, { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider });
    outputs.push(client);
    return client;
  };
  const attempt = async (call: () => Promise<unknown>) => {
    try {
      outputs.push(await call());
    } catch (error) {
      errors.push(error);
    }
  };

  // A client assertion from a file: a 503 (retried), a token, then an echoing refusal.
  const assertion = await platformToken("system:serviceaccount:orders:worker");
  secrets.push(assertion);
  file.write(assertion);
  const source = fileAssertion(file.path);
  outputs.push(source);
  const withAssertion = make({ clientAssertion: source });
  server.script({ status: 503, body: "busy" }, tokenReply());
  await attempt(() => withAssertion.getToken({ audience: API }));
  server.script(echoing);
  await attempt(() => withAssertion.getToken({ audience: API, forceRefresh: true }));
  // An expired one, refused before any request.
  const expired = await platformToken("system:serviceaccount:orders:worker", -5);
  secrets.push(expired);
  file.write(expired);
  await attempt(() => make({ clientAssertion: fileAssertion(file.path) }).getToken({ audience: API }));
  // A value, a function.
  await attempt(() => make({ clientAssertion: assertion }).getToken({ audience: API }));
  await attempt(() => make({ clientAssertion: () => assertion }).getToken({ audience: API }));

  // The platform token as the grant: jwt-bearer and token exchange.
  const grantToken = await platformToken("system:serviceaccount:billing:worker");
  secrets.push(grantToken);
  await attempt(() =>
    make({ grant: { type: "jwt-bearer", assertion: grantToken } }).getToken({ audience: API }),
  );
  await attempt(() =>
    make({
      grant: {
        type: "token-exchange",
        subjectToken: () => grantToken,
        subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
      },
    }).getToken({ audience: API }),
  );

  // exchangeToken with subject and actor tokens: answered, echoed, retried, expired.
  const subjectToken = await platformToken("alice");
  const actorToken = "opaque-actor-token-of-the-gateway-0123456789";
  secrets.push(subjectToken, actorToken);
  const gateway = make({ clientSecret: "gateway-secret-value" });
  const exchange = (options: { forceRefresh?: boolean } = {}) =>
    gateway.exchangeToken({
      subjectToken,
      actorToken,
      actorTokenType: "urn:ietf:params:oauth:token-type:access_token",
      audience: API,
      ...options,
    });
  server.script({ status: 503, body: "busy" }, tokenReply());
  await attempt(() => exchange());
  await attempt(() => exchange());
  await attempt(() => exchange({ forceRefresh: true }));
  const expiredSubject = await platformToken("bob", -5);
  secrets.push(expiredSubject);
  await attempt(() => gateway.exchangeToken({ subjectToken: expiredSubject, audience: API }));

  expect(errors.length).toBeGreaterThanOrEqual(4);
  expect(events.map((e) => e.type)).toEqual(
    expect.arrayContaining(["retry", "token_fetched", "token_failed", "cache_hit"]),
  );
  expect(lines.length).toBeGreaterThan(5);
  expect(telemetry.spans().length).toBeGreaterThan(5);
  const everything = [
    ...errors.map(shown),
    ...outputs.map(shown),
    shown(events),
    shown(lines),
    await telemetry.dump(),
    JSON.stringify(
      telemetry.spans().map((s) => ({ attributes: s.attributes, events: s.events, status: s.status })),
    ),
  ].join("\n");
  // The server did receive them: the check below is not vacuous.
  const received = server.requests.map((r) => r.body).join("\n");
  for (const secret of secrets.filter((s) => s !== expired && s !== expiredSubject)) {
    expect(received).toContain(encodeURIComponent(secret).slice(0, 40));
  }
  for (const secret of secrets) {
    expect(everything).not.toContain(secret);
    // Nor a recognisable part of it (a JWT's signature, an opaque token's tail).
    expect(everything).not.toContain(secret.slice(-24));
  }
});
