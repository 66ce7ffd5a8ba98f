/**
 * The tools around the core refuse a misspelt option, naming the option it misspells: the testing
 * helpers, the dev server's programmatic options and its configuration's entries, logEvents,
 * m2m-kit/otel's instrument, and the DPoP helpers (createDpopNonce, importDpopKey, createDpopProof).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DevConfigError,
  type StartDevServerOptions,
  startDevServer,
  validateDevConfig,
} from "../../src/dev-server/index.js";
import { IMPORT_DPOP_KEY_OPTION_NAMES } from "../../src/dpop/key.js";
import { DPOP_NONCE_OPTION_NAMES } from "../../src/dpop/nonce.js";
import { DPOP_PROOF_INPUT_NAMES } from "../../src/dpop/proof.js";
import {
  createDpopNonce,
  createDpopProof,
  createVerifier,
  generateDpopKey,
  importDpopKey,
  logEvents,
} from "../../src/index.js";
import { LOG_EVENTS_OPTION_NAMES } from "../../src/lib/log-events.js";
import type { OptionNames } from "../../src/lib/option-names.js";
import { type InstrumentOptions, instrument } from "../../src/otel/index.js";
import {
  createGitHubActionsTokenServer,
  createTestClient,
  createTestIssuer,
  type GitHubActionsTokenOptions,
  type GitHubActionsTokenServerOptions,
  type KubernetesTokenOptions,
  type MintOptions,
  type RotateKeysOptions,
  type TestClientOptions,
  type TestDpopProofOptions,
  type TestIssuer,
  type TestIssuerOptions,
} from "../../src/testing/index.js";
import { expectTypoError, namesOf, rejected, thrown, typosOf } from "../support/option-names.js";

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer({ audience: "https://api.example.com" });
});
afterAll(() => issuer.close());

const TEST_ISSUER: OptionNames<TestIssuerOptions> = { algorithm: true, audience: true };
const MINT: OptionNames<MintOptions> = { expiresInSeconds: true, header: true, forged: true, dpopKey: true };
const TEST_CLIENT: OptionNames<TestClientOptions, MintOptions> = { dpop: true };
const ROTATE_KEYS: OptionNames<RotateKeysOptions> = { dropOld: true };
const TEST_DPOP_PROOF: OptionNames<TestDpopProofOptions> = { nonce: true };
const KUBERNETES_TOKEN: OptionNames<KubernetesTokenOptions> = {
  audience: true,
  namespace: true,
  serviceAccount: true,
  pod: true,
  node: true,
  expiresInSeconds: true,
  claims: true,
  forged: true,
};
const GITHUB_ACTIONS_SERVER: OptionNames<GitHubActionsTokenServerOptions> = {
  repository: true,
  ref: true,
  environment: true,
  eventName: true,
  workflowPath: true,
  actor: true,
  expiresInSeconds: true,
  claims: true,
  forged: true,
};
const GITHUB_ACTIONS_TOKEN: OptionNames<GitHubActionsTokenOptions, GitHubActionsTokenServerOptions> = {
  audience: true,
};
const START_DEV_SERVER: OptionNames<StartDevServerOptions> = {
  config: true,
  configPath: true,
  port: true,
  host: true,
  keysPath: true,
};
const INSTRUMENT: OptionNames<InstrumentOptions> = {
  meterProvider: true,
  tracerProvider: true,
  includeAudience: true,
  includeClientId: true,
  traceHttp: true,
};

describe("m2m-kit/testing", () => {
  it("createTestIssuer, mint, rotateKeys: a misspelt option rejects", async () => {
    for (const [typo, meant] of typosOf(namesOf(TEST_ISSUER))) {
      expectTypoError(await rejected(createTestIssuer({ [typo]: "RS256" } as never)), typo, meant);
    }
    for (const [typo, meant] of typosOf(namesOf(MINT))) {
      expectTypoError(await rejected(issuer.mint({}, { [typo]: 5 } as never)), typo, meant);
    }
    for (const [typo, meant] of typosOf(namesOf(ROTATE_KEYS))) {
      expectTypoError(await rejected(issuer.rotateKeys({ [typo]: true } as never)), typo, meant);
    }
  });

  it("mintKubernetesToken, mintGitHubActionsToken, createGitHubActionsTokenServer: a misspelt option rejects", async () => {
    for (const [typo, meant] of typosOf(namesOf(KUBERNETES_TOKEN))) {
      expectTypoError(
        await rejected(issuer.mintKubernetesToken({ audience: "https://dev.local", [typo]: "x" } as never)),
        typo,
        meant,
      );
    }
    for (const [typo, meant] of typosOf(namesOf(GITHUB_ACTIONS_TOKEN, GITHUB_ACTIONS_SERVER))) {
      expectTypoError(await rejected(issuer.mintGitHubActionsToken({ [typo]: "x" } as never)), typo, meant);
    }
    for (const [typo, meant] of typosOf(namesOf(GITHUB_ACTIONS_SERVER))) {
      expectTypoError(
        await rejected(createGitHubActionsTokenServer(issuer, { [typo]: "x" } as never)),
        typo,
        meant,
      );
    }
    // The audience comes with each request to the endpoint, not from its options.
    expect(await rejected(createGitHubActionsTokenServer(issuer, { audience: "x" } as never))).toBeInstanceOf(
      TypeError,
    );
  });

  it("mint({}, { expiresInSecond: -60 }) is refused, not a token that is still valid", async () => {
    expect(await rejected(issuer.mint({}, { expiresInSecond: -60 } as never))).toHaveProperty(
      "message",
      "expiresInSecond is not an option of mint(); did you mean expiresInSeconds?",
    );
    const verifier = createVerifier({ issuer: issuer.issuer, audience: "https://api.example.com" });
    await expect(verifier.verify(await issuer.mint({}, { expiresInSeconds: -60 }))).rejects.toHaveProperty(
      "code",
      "ERR_JWT_EXPIRED",
    );
  });

  it("createTestClient and its dpopProof", async () => {
    for (const [typo, meant] of typosOf(namesOf(MINT, TEST_CLIENT))) {
      expectTypoError(
        thrown(() => createTestClient(issuer, {}, { [typo]: true } as never)),
        typo,
        meant,
      );
    }
    const client = createTestClient(issuer, {}, { dpop: true });
    for (const [typo, meant] of typosOf(namesOf(TEST_DPOP_PROOF))) {
      expectTypoError(
        await rejected(client.dpopProof("GET", "http://127.0.0.1/", { [typo]: "n" } as never)),
        typo,
        meant,
      );
    }
  });
});

describe("the dev server", () => {
  it("startDevServer rejects a misspelt option", async () => {
    for (const [typo, meant] of typosOf(namesOf(START_DEV_SERVER))) {
      expectTypoError(await rejected(startDevServer({ [typo]: 0 } as never)), typo, meant);
    }
  });

  it("an unknown field of an api or app entry is a DevConfigError naming it and the field it misspells", () => {
    const valid = {
      apis: [{ identifier: "https://orders.example.com", scopes: ["read"] }],
      apps: [{ clientId: "svc", clientSecret: "secret", grants: { "https://orders.example.com": ["read"] } }],
    };
    expect(thrown(() => validateDevConfig(valid))).toBeUndefined();
    const cases: Array<[object, string]> = [
      [
        { ...valid, apis: [{ ...valid.apis[0], tokenLifetimeSecond: 60 }] },
        "config: apis[0].tokenLifetimeSecond: unknown field (did you mean tokenLifetimeSeconds?)",
      ],
      [
        { ...valid, apps: [{ ...valid.apps[0], enabeld: false }] },
        "config: apps[0].enabeld: unknown field (did you mean enabled?)",
      ],
      [{ ...valid, api: [] }, "config: api: unknown field (did you mean apis?)"],
    ];
    for (const [config, message] of cases) {
      const error = thrown(() => validateDevConfig(config, "config"));
      expect(error).toBeInstanceOf(DevConfigError);
      expect((error as Error).message).toBe(message);
    }
    expect(
      thrown(() => validateDevConfig({ ...valid, apis: [{ ...valid.apis[0], $comment: "a note" }] })),
    ).toBeUndefined();
  });
});

describe("logEvents, instrument and the DPoP helpers", () => {
  it("logEvents (levels names m2m-kit's event types only)", () => {
    for (const [typo, meant] of typosOf(namesOf(LOG_EVENTS_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => logEvents(console, { [typo]: "warn" } as never)),
        typo,
        meant,
      );
    }
    expect(thrown(() => logEvents(console, { levels: { cache_hit: "info" } }))).toBeUndefined();
    expect(thrown(() => logEvents(console, { levels: { cache_hti: "info" } as never }))).toMatchObject({
      name: "TypeError",
      message: expect.stringContaining("did you mean levels.cache_hit?"),
    });
  });

  it("instrument", () => {
    const verifier = createVerifier({ issuer: issuer.issuer, audience: "https://api.example.com" });
    for (const [typo, meant] of typosOf(namesOf(INSTRUMENT))) {
      expectTypoError(
        thrown(() => instrument(verifier, { [typo]: false } as never)),
        typo,
        meant,
      );
    }
  });

  it("createDpopNonce, importDpopKey, createDpopProof", async () => {
    for (const [typo, meant] of typosOf(namesOf(DPOP_NONCE_OPTION_NAMES))) {
      expectTypoError(
        thrown(() => createDpopNonce({ [typo]: 60 } as never)),
        typo,
        meant,
      );
    }
    const key = await generateDpopKey();
    for (const [typo, meant] of typosOf(namesOf(IMPORT_DPOP_KEY_OPTION_NAMES))) {
      expectTypoError(
        await rejected(importDpopKey(key.privateKey, { [typo]: "ES256" } as never)),
        typo,
        meant,
      );
    }
    for (const [typo, meant] of typosOf(namesOf(DPOP_PROOF_INPUT_NAMES))) {
      const input = { method: "GET", url: "https://api.example.com/", [typo]: "x" };
      expectTypoError(await rejected(createDpopProof(key, input as never)), typo, meant);
    }
  });
});
