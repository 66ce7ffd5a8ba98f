import { CLIENT_CREDENTIALS_GRANT_TYPE, type FormParameters, type Grant } from "./grant.js";

const PARAMETERS: FormParameters = [["grant_type", CLIENT_CREDENTIALS_GRANT_TYPE]];

/** RFC 6749 §4.4.2: `grant_type=client_credentials`; the client's authentication is the credential. */
export const clientCredentialsGrant: Grant = Object.freeze({
  type: CLIENT_CREDENTIALS_GRANT_TYPE,
  keyPart: "",
  parameters: async () => PARAMETERS,
  notAfter: undefined,
  acceptsNotApplicable: false,
});
