import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier, M2MError, type Verifier } from "../../src/index.js";
import { ManualClock } from "../support/clock.js";
import { b64url, type KeyServer, startKeyServer } from "../support/key-server.js";

const API = "https://api.example.com";
const RUNS = 10_000;
let ks: KeyServer;
let verifier: Verifier;
let valid: string;

beforeAll(async () => {
  ks = await startKeyServer();
  // The clock never moves: the JWKS stays inside its cooldown, so no input can trigger a fetch.
  verifier = createVerifier({
    issuer: ks.issuer,
    audience: API,
    jwksUri: ks.jwksUri,
    clock: new ManualClock(),
  });
  await verifier.warmUp();
  valid = await ks.sign({ scope: "read:data", client_id: "svc" });
  await verifier.verify(valid);
});
afterAll(() => ks.close());

/** Resolves to the thrown error, or fails the property if the input verified or threw a non-M2MError. */
async function rejectsWithM2MError(input: string): Promise<void> {
  let outcome: unknown;
  try {
    await verifier.verify(input);
    outcome = "verified";
  } catch (error) {
    outcome = error;
  }
  if (!(outcome instanceof M2MError)) {
    throw new Error(
      `input ${JSON.stringify(input.slice(0, 80))} gave ${outcome instanceof Error ? outcome.name : String(outcome)}`,
    );
  }
}

const BASE64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("property: no input but a valid token verifies, and every rejection is an M2MError", () => {
  it(`arbitrary strings (${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(fc.string({ unit: "binary", maxLength: 400 }), rejectsWithM2MError), {
      numRuns: RUNS,
    });
  });

  it(`strings shaped like a JWS (${RUNS} runs)`, async () => {
    const segment = fc.string({
      unit: fc.constantFrom(...BASE64URL_CHARS, "=", "+", "/", "."),
      maxLength: 120,
    });
    await fc.assert(
      fc.asyncProperty(fc.tuple(segment, segment, segment), ([a, b, c]) =>
        rejectsWithM2MError(`${a}.${b}.${c}`),
      ),
      { numRuns: RUNS },
    );
  });

  it(`JSON headers and payloads of any shape (${RUNS} runs)`, async () => {
    const header = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          alg: fc.constantFrom("RS256", "ES256", "HS256", "none", "PS256", "EdDSA"),
          kid: fc.oneof(fc.string(), fc.constant(ks.keys[0]?.kid)),
          typ: fc.string(),
        },
        { requiredKeys: [] },
      ),
    );
    const payload = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          iss: fc.constantFrom(ks.issuer, "x"),
          aud: fc.constantFrom(API, [API], 3),
          exp: fc.oneof(fc.integer(), fc.string()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(header, payload, fc.string({ maxLength: 20 }), (h, p, sig) =>
        rejectsWithM2MError(
          `${b64url(JSON.stringify(h) ?? "")}.${b64url(JSON.stringify(p) ?? "")}.${b64url(sig)}`,
        ),
      ),
      { numRuns: RUNS },
    );
  });

  it(`mutations of a valid token never verify (${RUNS} runs)`, async () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("replace" as const),
        at: fc.nat(),
        char: fc.constantFrom(...BASE64URL_CHARS, ".", "=", " "),
      }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(),
        char: fc.constantFrom(...BASE64URL_CHARS, "."),
      }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("swap" as const), a: fc.nat(2), b: fc.nat(2) }),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        let mutated: string;
        if (m.kind === "swap") {
          const parts = valid.split(".");
          [parts[m.a], parts[m.b]] = [parts[m.b] as string, parts[m.a] as string];
          mutated = parts.join(".");
        } else {
          const at = m.at % valid.length;
          if (m.kind === "replace") mutated = valid.slice(0, at) + m.char + valid.slice(at + 1);
          else if (m.kind === "delete") mutated = valid.slice(0, at) + valid.slice(at + 1);
          else if (m.kind === "insert") mutated = valid.slice(0, at) + m.char + valid.slice(at);
          else mutated = valid.slice(0, at);
        }
        fc.pre(mutated !== valid);
        await rejectsWithM2MError(mutated);
      }),
      { numRuns: RUNS },
    );
  });

  it("the valid token itself still verifies (the properties can fail)", async () => {
    await expect(verifier.verify(valid)).resolves.toMatchObject({ clientId: "svc" });
  });
});
