import type { AssertionCredential } from "../assertion-credential.js";
import { type Grant, JWT_BEARER_GRANT_TYPE } from "./grant.js";

/**
 * RFC 7523 §2.1: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with the current assertion of
 * the source (a platform token the authorization server takes as the grant itself). The assertion's
 * identity is in the client's cache partition.
 */
export function jwtBearerGrant(assertion: AssertionCredential): Grant {
  return {
    type: JWT_BEARER_GRANT_TYPE,
    keyPart: "",
    async parameters({ signal }) {
      const { value } = await assertion.take(signal);
      return [
        ["grant_type", JWT_BEARER_GRANT_TYPE],
        ["assertion", value],
      ];
    },
    notAfter: undefined,
    acceptsNotApplicable: false,
  };
}
