import type { JWTPayload } from "jose";
import { InvalidTokenError } from "../errors.js";
import { isOptionsObject, optionNamesOf } from "../lib/option-names.js";
import { isPlainObject } from "./issuers.js";

/**
 * What the caller of `verify` checked of the request that carried the token, for sender-constrained
 * tokens: a token (or introspection answer) with a `cnf` claim (RFC 7800 §3.1, the "confirmation"
 * claim) is accepted only when every confirmation method it names was checked.
 *
 * - `{ jkt }`: the RFC 7638 SHA-256 thumbprint of the key of a DPoP proof that passed RFC 9449 §4.3
 *   for this request (`createDpopProofVerifier(…).verify(…)` gives it as `thumbprint`). A token with
 *   `cnf.jkt` needs it, and it must be equal.
 * - `{ "x5t#S256" }`: the RFC 8705 §3.1 thumbprint (base64url SHA-256 of the DER) of the TLS client
 *   certificate the request was made with (`certificateThumbprint(der)`). A token with
 *   `cnf["x5t#S256"]` needs it, and it must be equal.
 * - `"checked-by-caller"`: the caller checks `cnf` itself, from `AuthResult.claims.cnf`; the
 *   verifier checks no binding at all.
 *
 * Members a token does not name are ignored: a request may present a certificate for an unbound
 * token. A `cnf` with a member not listed here is refused, as is a `cnf` that is not an object.
 */
export type Confirmation =
  | {
      /** Thumbprint of the DPoP proof key checked for this request (RFC 9449 §6.1), base64url. */
      jkt?: string;
      /** Thumbprint of the client certificate of this request (RFC 8705 §3.1), base64url. */
      "x5t#S256"?: string;
    }
  | "checked-by-caller";

/** A confirmation statement after validation: `undefined` when the call states nothing. */
export type CheckedConfirmation =
  | { readonly jkt: string | undefined; readonly x5t: string | undefined }
  | "checked-by-caller"
  | undefined;

const MEMBERS = new Set(["jkt", "x5t#S256"]);

/** Validates a `confirmation` call option; a bad one is a `TypeError` naming it. */
export function checkConfirmation(value: unknown): CheckedConfirmation {
  if (value === undefined || value === "checked-by-caller") return value;
  if (!isOptionsObject(value)) {
    throw new TypeError(
      'confirmation must be { jkt?, "x5t#S256"? } (what this request proved) or "checked-by-caller"',
    );
  }
  for (const name of optionNamesOf(value)) {
    const member = value[name];
    if (!MEMBERS.has(name)) throw new TypeError(`confirmation.${name} is not a known option (jkt, x5t#S256)`);
    if (member !== undefined && (typeof member !== "string" || member === "")) {
      throw new TypeError(`confirmation.${name} must be a non-empty string (a base64url thumbprint)`);
    }
  }
  return { jkt: value.jkt as string | undefined, x5t: value["x5t#S256"] as string | undefined };
}

/** A member name from a token, shown only when it is a plain name (a token's text is never echoed). */
function shown(name: string): string {
  return /^[A-Za-z0-9#_.-]{1,32}$/.test(name) ? ` (cnf.${name})` : "";
}

/**
 * RFC 7800 §3.1 with RFC 9449 §7.1 and RFC 8705 §3: a sender-constrained token is never a bearer
 * token. Throws `InvalidTokenError` unless every confirmation method of `claims.cnf` was checked.
 * `dpopAccepted` says whether the verifier was created with `dpop` (for the error's wording).
 */
export function checkBinding(
  claims: JWTPayload,
  confirmation: CheckedConfirmation,
  dpopAccepted: boolean,
): void {
  const cnf = claims.cnf;
  if (cnf === undefined || confirmation === "checked-by-caller") return;
  if (!isPlainObject(cnf) || Object.keys(cnf).length === 0) {
    throw new InvalidTokenError(
      "ERR_CNF_UNSUPPORTED",
      "the access token's cnf claim names no confirmation method this API checks",
    );
  }
  for (const name of Object.keys(cnf)) {
    if (!MEMBERS.has(name)) {
      throw new InvalidTokenError(
        "ERR_CNF_UNSUPPORTED",
        `the access token is bound by a confirmation method this API does not check${shown(name)}`,
      );
    }
  }
  const jkt = cnf.jkt;
  if (jkt !== undefined) {
    if (typeof jkt !== "string" || jkt === "") {
      throw new InvalidTokenError("ERR_DPOP_BINDING", "the access token's cnf.jkt is malformed");
    }
    if (confirmation?.jkt === undefined) {
      throw new InvalidTokenError(
        "ERR_DPOP_BOUND_AS_BEARER",
        dpopAccepted
          ? "a DPoP-bound access token was sent without a DPoP proof"
          : "this API does not accept DPoP-bound access tokens (no dpop option)",
      );
    }
    if (confirmation.jkt !== jkt) {
      throw new InvalidTokenError(
        "ERR_DPOP_BINDING",
        "the access token is bound to another key than the DPoP proof",
      );
    }
  }
  const x5t = cnf["x5t#S256"];
  if (x5t !== undefined) {
    if (typeof x5t !== "string" || x5t === "") {
      throw new InvalidTokenError(
        "ERR_CERTIFICATE_BINDING",
        'the access token\'s cnf["x5t#S256"] is malformed',
      );
    }
    if (confirmation?.x5t === undefined) {
      throw new InvalidTokenError(
        "ERR_CERTIFICATE_BINDING",
        "the access token is bound to a client certificate (RFC 8705) and the request presented none",
      );
    }
    if (confirmation.x5t !== x5t) {
      throw new InvalidTokenError(
        "ERR_CERTIFICATE_BINDING",
        "the access token is bound to another client certificate than the one of the request (RFC 8705)",
      );
    }
  }
}
