/**
 * Delegation (RFC 8693 §4.1): a token with an `act` claim reports its chain as `AuthResult.actor`;
 * `delegation` forbids or requires it and `allowedActors` names who may act, matched against the
 * outermost actor only. Refusals are claim-policy refusals (403), a malformed `act` a bad token (401).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClaimPolicyError, createVerifier, type VerifierOptions } from "../../src/index.js";
import { createTestIssuer, type TestIssuer } from "../../src/testing/index.js";

const API = "https://api.example.com";
let issuer: TestIssuer;
let other: TestIssuer;
const base = () => ({ issuer: issuer.issuer, audience: API });

beforeAll(async () => {
  issuer = await createTestIssuer({ audience: API, algorithm: "ES256" });
  other = await createTestIssuer({ audience: API, algorithm: "ES256" });
});
afterAll(async () => {
  await issuer?.close();
  await other?.close();
});

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a refusal");
}

const AGENT = {
  sub: "agent-7",
  client_id: "agent-app",
  act: { sub: "orchestrator", act: { sub: "scheduler" } },
};

describe("the actor chain", () => {
  it("is reported outermost first, with sub, iss and client_id; a token without act has none", async () => {
    const verifier = createVerifier(base());
    const auth = await verifier.verify(await issuer.mint({ sub: "user-1", act: AGENT }));
    expect(auth.subject).toBe("user-1");
    expect(auth.actor).toEqual({
      sub: "agent-7",
      client_id: "agent-app",
      actor: { sub: "orchestrator", actor: { sub: "scheduler" } },
    });
    const direct = await verifier.verify(await issuer.mint({ sub: "svc" }));
    expect(direct.actor).toBeUndefined();
    expect("actor" in direct).toBe(false);
    const foreign = await verifier.verify(await issuer.mint({ act: { sub: "bot", iss: other.issuer } }));
    expect(foreign.actor).toEqual({ sub: "bot", iss: other.issuer });
  });

  it("a malformed act makes the token malformed (401), whatever the policy", async () => {
    const verifier = createVerifier(base());
    let deep: Record<string, unknown> = { sub: "last" };
    for (let i = 0; i < 20; i++) deep = { sub: `hop-${i}`, act: deep };
    for (const act of [
      "agent",
      ["agent"],
      null,
      {},
      { sub: 7 },
      { sub: "" },
      { sub: "a", iss: 1 },
      { sub: "a", client_id: {} },
      { sub: "a", act: "b" },
      deep,
    ]) {
      const error = await refusal(verifier.verify(await issuer.mint({ act })));
      expect(error, JSON.stringify(act)).toMatchObject({ code: "ERR_JWT_MALFORMED", status: 401 });
    }
  });
});

describe("delegation and allowedActors", () => {
  it('"forbid" refuses a delegated token with ERR_CLAIM_POLICY (403); a direct one passes', async () => {
    const verifier = createVerifier({ ...base(), delegation: "forbid" });
    const error = await refusal(verifier.verify(await issuer.mint({ act: AGENT })));
    expect(error).toBeInstanceOf(ClaimPolicyError);
    expect(error).toMatchObject({ code: "ERR_CLAIM_POLICY", status: 403, claim: "act" });
    expect((error as Error).message).not.toContain("agent-7");
    await expect(verifier.verify(await issuer.mint({ sub: "svc" }))).resolves.toMatchObject({
      subject: "svc",
    });
  });

  it('"require" refuses a direct token; a delegated one passes', async () => {
    const verifier = createVerifier({ ...base(), delegation: "require" });
    expect(await refusal(verifier.verify(await issuer.mint({ sub: "svc" })))).toMatchObject({
      code: "ERR_CLAIM_POLICY",
      claim: "act",
    });
    await expect(verifier.verify(await issuer.mint({ act: AGENT }))).resolves.toMatchObject({
      actor: { sub: "agent-7" },
    });
  });

  it("allowedActors is matched against the outermost actor only: an inner actor that matches does not count", async () => {
    const verifier = createVerifier({
      ...base(),
      allowedActors: [{ sub: "orchestrator" }, { client_id: "agent-app" }],
    });
    // The outermost actor's client_id is allowed.
    await expect(verifier.verify(await issuer.mint({ act: AGENT }))).resolves.toMatchObject({
      actor: { client_id: "agent-app" },
    });
    // "orchestrator" is allowed, but here it only acted before the outermost actor.
    const inner = { sub: "intruder", act: { sub: "orchestrator" } };
    expect(await refusal(verifier.verify(await issuer.mint({ act: inner })))).toMatchObject({
      code: "ERR_CLAIM_POLICY",
      status: 403,
    });
    await expect(verifier.verify(await issuer.mint({ act: { sub: "orchestrator" } }))).resolves.toBeDefined();
    // A token without act is no delegation: allowedActors does not apply (delegation: "require" does).
    await expect(verifier.verify(await issuer.mint({ sub: "svc" }))).resolves.toBeDefined();
  });

  it("{ sub } names an actor of the token's issuer unless iss says otherwise", async () => {
    const verifier = createVerifier({
      ...base(),
      allowedActors: [{ sub: "bot" }, { sub: "partner-bot", iss: other.issuer }],
    });
    await expect(verifier.verify(await issuer.mint({ act: { sub: "bot" } }))).resolves.toBeDefined();
    await expect(
      verifier.verify(await issuer.mint({ act: { sub: "bot", iss: issuer.issuer } })),
    ).resolves.toBeDefined();
    // The same sub at another issuer is another party.
    expect(
      await refusal(verifier.verify(await issuer.mint({ act: { sub: "bot", iss: other.issuer } }))),
    ).toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
    await expect(
      verifier.verify(await issuer.mint({ act: { sub: "partner-bot", iss: other.issuer } })),
    ).resolves.toBeDefined();
    expect(await refusal(verifier.verify(await issuer.mint({ act: { sub: "partner-bot" } })))).toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
  });

  it("per issuer entry, over the top-level default; a cached token is checked again on every call", async () => {
    const verifier = createVerifier({
      delegation: "forbid",
      issuers: [
        { issuer: issuer.issuer, audience: API },
        { issuer: other.issuer, audience: API, delegation: "allow", allowedActors: [{ sub: "bot" }] },
      ],
    });
    const fromIssuer = await issuer.mint({ act: { sub: "bot" } });
    for (let i = 0; i < 3; i++) {
      expect(await refusal(verifier.verify(fromIssuer))).toMatchObject({ code: "ERR_CLAIM_POLICY" });
    }
    const fromOther = await other.mint({ act: { sub: "bot" } });
    for (let i = 0; i < 3; i++) await expect(verifier.verify(fromOther)).resolves.toBeDefined();
    expect(await refusal(verifier.verify(await other.mint({ act: { sub: "eve" } })))).toMatchObject({
      code: "ERR_CLAIM_POLICY",
    });
  });

  it("bad settings are TypeErrors naming them, with the name meant for a misspelt one", () => {
    const refused: Array<[Partial<VerifierOptions>, RegExp]> = [
      [{ delegation: "deny" as never }, /delegation must be "allow", "forbid" or "require"/],
      [
        { delegation: "forbid", allowedActors: [{ sub: "a" }] },
        /allowedActors contradicts delegation: "forbid"/,
      ],
      [{ allowedActors: { sub: "a" } as never }, /allowedActors must be an array/],
      [
        { allowedActors: [{ clientId: "a" }] as never },
        /allowedActors\[0\]\.clientId is not an option of createVerifier\(\); did you mean allowedActors\[0\]\.client_id\?/,
      ],
      [
        { allowedActors: [{ sub: "a", client_id: "b" }] as never },
        /allowedActors\[0\] must be \{ sub, iss\? \} or \{ client_id \}/,
      ],
      [{ allowedActors: [{ iss: "https://a.example.com/" }] as never }, /allowedActors\[0\] must be/],
      [{ allowedActors: [{ sub: "" }] }, /must be non-empty strings/],
      [{ allowedActors: ["a"] as never }, /allowedActors\[0\] must be/],
    ];
    for (const [options, message] of refused) {
      expect(() => createVerifier({ ...base(), ...options } as VerifierOptions), String(message)).toThrow(
        message,
      );
    }
    expect(() => createVerifier({ issuers: [{ ...base(), delegation: "sometimes" as never }] })).toThrow(
      /issuers\[0\]\.delegation must be/,
    );
  });
});
