import { decodeJwt, type JWTPayload } from "jose";
import type { DevApp } from "./config.js";
import {
  type Federation,
  FederationCheckError,
  JWT_BEARER_ASSERTION_TYPE,
  JWT_SPIFFE_ASSERTION_TYPE,
} from "./federation.js";
import { JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT } from "./grants.js";

/** A token request the front answers itself (RFC 6749 §5.2). */
export interface FrontRefusal {
  status: number;
  error: string;
  description: string;
}

const refuseClient = (description: string): FrontRefusal => ({
  status: 401,
  error: "invalid_client",
  description,
});

function claimsOf(token: string | null): JWTPayload | undefined {
  if (!token) return undefined;
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

/**
 * Federated client authentication in front of oidc-provider, which accepts only assertions whose `iss`
 * is the client itself, each once. A token of another issuer (`client_assertion_type` jwt-bearer with
 * `client_id`, as Entra ID requires, or jwt-spiffe) is checked against the app's `federated`
 * credentials; when it passes, the request goes on with an assertion the dev server signs for the app.
 * A `jwt-bearer` or `token-exchange` grant without client authentication whose assertion or subject
 * token passes the same check authenticates its app the same way. Rewrites `params`; answers a
 * refusal, or `undefined` to let oidc-provider answer.
 */
export async function authenticateFederated(
  params: URLSearchParams,
  hasAuthorizationHeader: boolean,
  apps: Map<string, DevApp>,
  federation: Federation,
): Promise<FrontRefusal | undefined> {
  const assertionType = params.get("client_assertion_type");
  const assertion = params.get("client_assertion");
  const spiffe = assertionType === JWT_SPIFFE_ASSERTION_TYPE;
  let clientId = params.get("client_id") ?? undefined;
  let app: DevApp | undefined;
  let grantToken: { value: string; label: string } | undefined;

  if (assertion && (spiffe || assertionType === JWT_BEARER_ASSERTION_TYPE)) {
    const claims = claimsOf(assertion);
    if (!spiffe) {
      // The app's own assertion (RFC 7523 §3: iss is the client id) is oidc-provider's to check.
      if (!claims || typeof claims.iss !== "string") return undefined;
      if (clientId === undefined ? apps.has(claims.iss) : claims.iss === clientId) return undefined;
      if (clientId === undefined) {
        return refuseClient(
          `client_id is required with a federated client assertion (its issuer "${claims.iss}" is not an app)`,
        );
      }
    } else if (clientId === undefined) {
      // draft-ietf-oauth-spiffe-client-auth: the SPIFFE ID is the client id or registered with one.
      const spiffeId = claims?.sub;
      const matching = [...apps.values()].filter(
        (candidate) =>
          candidate.clientId === spiffeId || candidate.federated?.some((c) => c.subject === spiffeId),
      );
      if (typeof spiffeId !== "string" || matching.length !== 1) {
        return refuseClient(
          typeof spiffeId !== "string"
            ? "the client_assertion is not a JWT-SVID: its sub is not a SPIFFE ID"
            : `${matching.length === 0 ? "no app has" : "several apps have"} a federated credential for the SPIFFE ID "${spiffeId}"; send client_id`,
        );
      }
      clientId = (matching[0] as DevApp).clientId;
    }
    app = apps.get(clientId as string);
    if (!app || app.enabled === false) return refuseClient(`no enabled app has the client_id "${clientId}"`);
    if (!app.federated) {
      return refuseClient(
        `the app "${app.clientId}" has no federated credentials ("federated" in its configuration); its own assertions have iss and sub = its client id`,
      );
    }
    grantToken = { value: assertion, label: "client_assertion" };
  } else if (assertion || params.has("client_secret") || hasAuthorizationHeader) {
    return undefined;
  } else {
    // No client authentication: a workload-identity grant may authenticate its app.
    const grantType = params.get("grant_type");
    const value =
      grantType === JWT_BEARER_GRANT
        ? params.get("assertion")
        : grantType === TOKEN_EXCHANGE_GRANT
          ? params.get("subject_token")
          : null;
    const claims = claimsOf(value);
    if (!value || typeof claims?.iss !== "string") return undefined;
    const trusts = (candidate: DevApp) =>
      candidate.enabled !== false && candidate.federated?.some((c) => c.issuer === claims.iss) === true;
    if (clientId !== undefined) {
      app = apps.get(clientId);
      if (!app || !trusts(app)) return undefined;
    } else {
      const matching = [...apps.values()].filter(
        (candidate) =>
          trusts(candidate) &&
          candidate.federated?.some((c) => c.issuer === claims.iss && c.subject === claims.sub) === true,
      );
      if (matching.length !== 1) return undefined;
      app = matching[0] as DevApp;
    }
    grantToken = { value, label: grantType === JWT_BEARER_GRANT ? "assertion" : "subject_token" };
  }

  try {
    await federation.verify(app, grantToken.value, { label: grantToken.label, spiffe });
  } catch (error) {
    if (!(error instanceof FederationCheckError)) throw error;
    if (grantToken.label === "client_assertion") return refuseClient(error.message);
    // The grant's own token: RFC 7523 §3.1 invalid_grant, RFC 8693 §2.2.2 invalid_request.
    return {
      status: 400,
      error: grantToken.label === "assertion" ? "invalid_grant" : "invalid_request",
      description: error.message,
    };
  }
  params.set("client_id", app.clientId);
  params.set("client_assertion_type", JWT_BEARER_ASSERTION_TYPE);
  params.set("client_assertion", await federation.clientAssertion(app.clientId));
  return undefined;
}
