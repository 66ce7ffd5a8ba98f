import type { Clock } from "../../lib/clock.js";
import { ASSERTION_MIN_REMAINING_MS } from "../../workload/assertion.js";
import type { ResolvedSource } from "../../workload/source.js";
import { AssertionCredential } from "../assertion-credential.js";
import type { NormalizedOptions } from "../normalize-options.js";
import { clientCredentialsGrant } from "./client-credentials.js";
import type { Grant } from "./grant.js";
import { jwtBearerGrant } from "./jwt-bearer.js";
import { sourceExchangeGrant } from "./token-exchange.js";

/** A client's own grant and the credentials it reads from sources, as its options configure them. */
export interface ClientGrant {
  grant: Grant;
  /** What the cache partition holds of the grant: its type, and a token exchange's subject token type. */
  key: string;
  /** The grant's own credential from a source: the JWT bearer assertion, a token exchange's subject. */
  subject: AssertionCredential | undefined;
  /** The client assertion from a source (`clientAssertion`). */
  clientAssertion: AssertionCredential | undefined;
  /** The grant is a token exchange: its target is named as RFC 8693 names it. */
  exchange: boolean;
}

/** Client credentials, or the `grant` option's grant; each source wrapped with the client's clock and retry policy. */
export function clientGrant(options: NormalizedOptions, clock: Clock): ClientGrant {
  const credential = (
    source: ResolvedSource,
    parameter: "client_assertion" | "assertion" | "subject_token",
    jwt: boolean,
  ) =>
    new AssertionCredential(source, {
      parameter,
      minRemainingMs: ASSERTION_MIN_REMAINING_MS,
      jwt,
      clock,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
    });
  const clientAssertion =
    options.clientAssertion && credential(options.clientAssertion, "client_assertion", true);
  const option = options.grant;
  if (option?.type === "jwt-bearer") {
    const subject = credential(option.assertion, "assertion", true);
    const grant = jwtBearerGrant(subject);
    return { grant, key: JSON.stringify([grant.type, null]), subject, clientAssertion, exchange: false };
  }
  if (option?.type === "token-exchange") {
    // A platform token of any format (an opaque cloud access token too): a JWT is not required.
    const subject = credential(option.subject, "subject_token", false);
    const grant = sourceExchangeGrant(subject, option.subjectTokenType);
    return {
      grant,
      key: JSON.stringify([grant.type, option.subjectTokenType]),
      subject,
      clientAssertion,
      exchange: true,
    };
  }
  return {
    grant: clientCredentialsGrant,
    key: JSON.stringify([clientCredentialsGrant.type, null]),
    subject: undefined,
    clientAssertion,
    exchange: false,
  };
}
