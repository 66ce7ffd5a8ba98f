/**
 * RFC 9449 §4.3 proof checks on unusual proofs: each answer (its `code`) is the same whichever way
 * the signature is checked — node:crypto on Node, jose and WebCrypto elsewhere (the `web-platform`
 * test project runs this file again with that platform).
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  accessTokenHash,
  createDpopProofVerifier,
  type DpopAlgorithm,
  type DpopOptions,
  InvalidDpopProofError,
} from "../../src/index.js";
import { ManualClock } from "../support/clock.js";

const URL_ = "https://api.example.com/data";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2ln";

type Pair = { publicKey: KeyObject; privateKey: KeyObject; jwk: Record<string, unknown> };

function pair(alg: "ES256" | "ES384" | "RS256" | "Ed25519" | "RS1024"): Pair {
  const keys =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "ES384"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : alg === "Ed25519"
          ? generateKeyPairSync("ed25519")
          : generateKeyPairSync("rsa", { modulusLength: alg === "RS1024" ? 1024 : 2048 });
  return { ...keys, jwk: keys.publicKey.export({ format: "jwk" }) as Record<string, unknown> };
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

function signature(alg: string, key: KeyObject, input: string): string {
  const hash = alg.startsWith("Ed") ? null : `sha${alg.slice(2)}`;
  const options = alg.startsWith("ES")
    ? { key, dsaEncoding: "ieee-p1363" as const }
    : alg.startsWith("PS")
      ? { key, padding: 6, saltLength: 32 }
      : key;
  return sign(hash, Buffer.from(input), options as never).toString("base64url");
}

describe("proof checks on unusual proofs (RFC 9449 §4.3, RFC 7515)", async () => {
  const es256 = pair("ES256");
  const es384 = pair("ES384");
  const rs256 = pair("RS256");
  const rs1024 = pair("RS1024");
  const ed = pair("Ed25519");
  const clock = new ManualClock(1_800_000_000_000);
  const iat = Math.floor(clock.now() / 1000);
  const ath = await accessTokenHash(TOKEN);
  const claims = (extra: Record<string, unknown> = {}) => ({
    jti: crypto.randomUUID(),
    htm: "GET",
    htu: URL_,
    iat,
    ath,
    ...extra,
  });
  /** A compact proof: header and payload as given (objects are JSON-encoded), signed by `signer`. */
  const proof = (
    header: Record<string, unknown> | string,
    payload: Record<string, unknown> | string = claims(),
    signer: Pair = es256,
    alg = typeof header === "string" ? "ES256" : String(header.alg),
  ) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${signature(alg, signer.privateKey, input)}`;
  };
  const header = (extra: Record<string, unknown> = {}, signer: Pair = es256, alg = "ES256") => ({
    typ: "dpop+jwt",
    alg,
    jwk: signer.jwk,
    ...extra,
  });
  const check = async (value: string, options: DpopOptions = {}) => {
    const verifier = createDpopProofVerifier({ replayStore: null, ...options }, clock);
    try {
      const verified = await verifier.verify({ proof: value, method: "GET", url: URL_, accessToken: TOKEN });
      return verified.thumbprint.length === 43 ? "accepted" : "no thumbprint";
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidDpopProofError);
      return (error as InvalidDpopProofError).code;
    }
  };
  /** A proof, signed, whose header segment carries "=" padding. */
  const padded = () => {
    for (let extra = 0; ; extra++) {
      const encoded = b64(header({ x: "x".repeat(extra) }));
      if (encoded.length % 4 === 0) continue;
      const input = `${encoded}${"=".repeat(4 - (encoded.length % 4))}.${b64(claims())}`;
      return `${input}.${signature("ES256", es256.privateKey, input)}`;
    }
  };
  const resign = (value: string, signer: Pair, alg = "ES256") => {
    const [h, p] = value.split(".");
    return `${h}.${p}.${signature(alg, signer.privateKey, `${h}.${p}`)}`;
  };

  const cases: Array<[string, () => string, string, DpopOptions?]> = [
    ["an ES256 proof", () => proof(header()), "accepted"],
    ["an Ed25519 proof", () => proof(header({}, ed, "Ed25519"), claims(), ed), "accepted"],
    ["an EdDSA proof", () => proof(header({}, ed, "EdDSA"), claims(), ed), "accepted"],
    ["an RS256 proof", () => proof(header({}, rs256, "RS256"), claims(), rs256), "accepted"],
    ["typ in another case", () => proof(header({ typ: "DPoP+JWT" })), "accepted"],
    ["typ as a full media type", () => proof(header({ typ: "application/dpop+jwt" })), "accepted"],
    [
      "jwk with kid, use and alg",
      () => proof(header({ jwk: { ...es256.jwk, kid: "k", use: "sig", alg: "ES256" } })),
      "accepted",
    ],
    ["two segments", () => proof(header()).split(".").slice(0, 2).join("."), "ERR_DPOP_MALFORMED"],
    ["four segments", () => `${proof(header())}.x`, "ERR_DPOP_MALFORMED"],
    ["a header that is not JSON", () => proof("not json"), "ERR_DPOP_MALFORMED"],
    ["a header that is a JSON array", () => proof("[1,2]"), "ERR_DPOP_MALFORMED"],
    ["no alg", () => proof(header({ alg: undefined }), claims(), es256, "ES256"), "ERR_DPOP_MALFORMED"],
    ["an empty alg", () => proof(header({ alg: "" }), claims(), es256, "ES256"), "ERR_DPOP_MALFORMED"],
    ["alg none", () => `${b64(header({ alg: "none" }))}.${b64(claims())}.`, "ERR_DPOP_ALG_NOT_ALLOWED"],
    [
      "alg HS256",
      () => `${b64(header({ alg: "HS256", jwk: { kty: "oct", k: "c2VjcmV0" } }))}.${b64(claims())}.c2ln`,
      "ERR_DPOP_ALG_NOT_ALLOWED",
    ],
    [
      "an alg left out of dpop.algorithms",
      () => proof(header({}, rs256, "RS256"), claims(), rs256),
      "ERR_DPOP_ALG_NOT_ALLOWED",
      { algorithms: ["ES256"] as DpopAlgorithm[] },
    ],
    ["crit that is not a list", () => proof(header({ crit: "b64" })), "ERR_DPOP_MALFORMED"],
    ["crit naming b64 without b64", () => proof(header({ crit: ["b64"] })), "ERR_DPOP_MALFORMED"],
    [
      "an unencoded payload (b64: false)",
      () => proof(header({ crit: ["b64"], b64: false })),
      "ERR_DPOP_MALFORMED",
    ],
    [
      "an unencoded payload with a bad signature",
      () => resign(proof(header({ crit: ["b64"], b64: false })), pair("ES256")),
      "ERR_DPOP_SIGNATURE",
    ],
    ["no jwk", () => proof(header({ jwk: undefined })), "ERR_DPOP_JWK"],
    ["a jwk that is a string", () => proof(header({ jwk: "key" })), "ERR_DPOP_JWK"],
    ["a jwk that is an array", () => proof(header({ jwk: [es256.jwk] })), "ERR_DPOP_JWK"],
    ["a jwk with d", () => proof(header({ jwk: { ...es256.jwk, d: "AAAA" } })), "ERR_DPOP_JWK"],
    ["a jwk for encryption", () => proof(header({ jwk: { ...es256.jwk, use: "enc" } })), "ERR_DPOP_JWK"],
    ["a jwk for another alg", () => proof(header({ jwk: { ...es256.jwk, alg: "ES384" } })), "ERR_DPOP_JWK"],
    ["a symmetric jwk", () => proof(header({ jwk: { kty: "oct", k: "c2VjcmV0" } })), "ERR_DPOP_JWK"],
    ["an RSA jwk with ES256", () => proof(header({ jwk: rs256.jwk })), "ERR_DPOP_JWK"],
    ["a P-384 jwk with ES256", () => proof(header({ jwk: es384.jwk }), claims(), es384), "ERR_DPOP_JWK"],
    [
      "an EC point off the curve",
      () => proof(header({ jwk: { ...es256.jwk, y: es256.jwk.x } })),
      "ERR_DPOP_JWK",
    ],
    ["an Ed25519 jwk with ES256", () => proof(header({ jwk: ed.jwk })), "ERR_DPOP_JWK"],
    [
      "an EC jwk with Ed25519",
      () => proof(header({}, es256, "Ed25519"), claims(), ed, "Ed25519"),
      "ERR_DPOP_JWK",
    ],
    [
      "a 1024-bit RSA key",
      () => proof(header({}, rs1024, "RS256"), claims(), rs1024, "RS256"),
      "ERR_DPOP_MALFORMED",
    ],
    ["a signature by another key", () => resign(proof(header()), pair("ES256")), "ERR_DPOP_SIGNATURE"],
    [
      "an empty signature",
      () => `${proof(header()).split(".").slice(0, 2).join(".")}.`,
      "ERR_DPOP_SIGNATURE",
    ],
    [
      "a short signature",
      () => `${proof(header()).split(".").slice(0, 2).join(".")}.AAAA`,
      "ERR_DPOP_SIGNATURE",
    ],
    // RFC 7515 §2: base64url without "=" padding (jose's decoder would take it), as for access tokens.
    ["a padded signature", () => `${proof(header())}==`, "ERR_DPOP_MALFORMED"],
    ["a padded header", () => padded(), "ERR_DPOP_MALFORMED"],
    ["a payload that is not JSON", () => proof(header(), "not json"), "ERR_DPOP_MALFORMED"],
    ["a payload that is a JSON array", () => proof(header(), "[]"), "ERR_DPOP_MALFORMED"],
    [
      "a payload that is not JSON, with another typ",
      () => proof(header({ typ: "JWT" }), "not json"),
      "ERR_DPOP_MALFORMED",
    ],
    ["typ JWT", () => proof(header({ typ: "JWT" })), "ERR_DPOP_TYP"],
    ["no typ", () => proof(header({ typ: undefined })), "ERR_DPOP_TYP"],
    ["typ under another media type", () => proof(header({ typ: "text/dpop+jwt" })), "ERR_DPOP_TYP"],
    [
      "typ JWT with a bad signature",
      () => resign(proof(header({ typ: "JWT" })), pair("ES256")),
      "ERR_DPOP_SIGNATURE",
    ],
    ["an exp in the past", () => proof(header(), claims({ exp: iat - 1 })), "ERR_DPOP_MALFORMED"],
    ["an exp that is not a number", () => proof(header(), claims({ exp: "soon" })), "ERR_DPOP_MALFORMED"],
    ["an nbf in the future", () => proof(header(), claims({ nbf: iat + 1 })), "ERR_DPOP_MALFORMED"],
    ["an iat that is a string", () => proof(header(), claims({ iat: String(iat) })), "ERR_DPOP_MALFORMED"],
    ["an exp and nbf that fit", () => proof(header(), claims({ exp: iat + 60, nbf: iat })), "accepted"],
  ];

  it.each(cases)("%s", async (_name, build, code, options) => {
    expect(await check(build(), options)).toBe(code);
  });
});
