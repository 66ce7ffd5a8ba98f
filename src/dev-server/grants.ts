import { createLocalJWKSet, decodeJwt, type JWK, type JWTPayload, errors as jose, jwtVerify } from "jose";
import type {
  ClientCredentials,
  JWTStructured,
  KoaContextWithOIDC,
  Provider,
  errors as ProviderErrors,
  TokenEndpointGrantContext,
} from "oidc-provider";
import { createDpopProofVerifier } from "../dpop/verify.js";
import { InvalidDpopProofError } from "../errors.js";
import type { DevApp, DevGrantType } from "./config.js";
import { type Federation, FederationCheckError } from "./federation.js";
import type { DevResources } from "./resources.js";

/** RFC 8693 §2.1. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 7523 §2.1. */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** The `grant_type` of each configured grant type. */
export const GRANT_TYPE_VALUES: Record<DevGrantType, string> = {
  client_credentials: "client_credentials",
  "token-exchange": TOKEN_EXCHANGE_GRANT,
  "jwt-bearer": JWT_BEARER_GRANT,
};

/** RFC 8693 §3 token type identifiers this server takes as subject and actor tokens. */
const TOKEN_TYPES = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
} as const;
const INPUT_TYPES: readonly string[] = Object.values(TOKEN_TYPES);
/** What it issues: a JWT access token, under either name (RFC 8693 §2.2.1 `issued_token_type`). */
const ISSUED_TYPES: readonly string[] = [TOKEN_TYPES.accessToken, TOKEN_TYPES.jwt];

const ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"];
const CLOCK_TOLERANCE_SECONDS = 5;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/** The proof algorithms the dev server accepts at its token endpoint (as configured for oidc-provider). */
const DPOP_ALGORITHMS = ["ES256", "ES384", "PS256", "RS256", "Ed25519", "EdDSA"] as const;

interface GrantSetup {
  provider: Provider;
  errors: typeof ProviderErrors;
  issuer: string;
  apps: Map<string, DevApp>;
  federation: Federation;
  resources: DevResources;
  /** The server's signing keys (private JWKs): tokens it issued are subject tokens. */
  keys: JWK[];
}

/** A checked subject, actor or assertion: its claims and, for another issuer's token, that issuer. */
interface CheckedToken {
  claims: JWTPayload & { sub: string };
  foreign: boolean;
}

/** Who an issued token is about, and who acts (RFC 8693 §4.1), carried to {@link customizeJwt}. */
interface Principal {
  sub: string;
  act?: Record<string, unknown>;
  /** The token may not outlive this (seconds since the epoch). */
  notAfter?: number;
}

/** The subject and actor of each token these grants issue, until oidc-provider formats it. */
const principals = new WeakMap<object, Record<string, unknown>>();

/** oidc-provider's `extraTokenClaims`: `act` (and `sub`, see {@link customizeJwt}) of these grants' tokens. */
export function extraTokenClaims(
  _ctx: KoaContextWithOIDC,
  token: object,
): Record<string, unknown> | undefined {
  return principals.get(token);
}

/**
 * oidc-provider's `formats.customizers.jwt`: a token of a token exchange or jwt-bearer grant is about
 * its subject (`sub`), not about the app, which stays `client_id` (oidc-provider writes `sub` after the
 * extra claims).
 */
export function customizeJwt(_ctx: KoaContextWithOIDC, token: unknown, jwt: JWTStructured): void {
  const sub = (token as ClientCredentials).extra?.sub;
  if (typeof sub === "string") jwt.payload.sub = sub;
}

/**
 * Registers RFC 8693 token exchange and RFC 7523 §2.1 jwt-bearer with oidc-provider. Both issue what
 * the client credentials grant issues (the same APIs, scopes, lifetimes, DPoP binding), about another
 * subject.
 */
export function registerWorkloadGrants(setup: GrantSetup): void {
  const { provider, errors, issuer, apps, federation, resources } = setup;
  const ownKeys = createLocalJWKSet({
    keys: setup.keys.map((key) =>
      Object.fromEntries(Object.entries(key).filter(([name]) => !PRIVATE_MEMBERS.includes(name))),
    ),
  });
  const dpop = createDpopProofVerifier({ algorithms: DPOP_ALGORITHMS });

  const appOf = (ctx: TokenEndpointGrantContext) => apps.get(ctx.oidc.client.clientId) as DevApp;

  /** A subject or actor token (RFC 8693 §2.1): one this server issued, or one of a federated issuer. */
  async function checkToken(app: DevApp, token: string, type: string, label: string): Promise<CheckedToken> {
    if (!INPUT_TYPES.includes(type)) {
      throw new errors.InvalidRequest(
        `unsupported ${label}_type ${JSON.stringify(type)}: this server takes ${INPUT_TYPES.join(", ")}`,
      );
    }
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new errors.InvalidRequest(
        `the ${label} is not a JWT (this server's access tokens and federated issuers' tokens are)`,
      );
    }
    if (iss === issuer) {
      if (type === TOKEN_TYPES.idToken) {
        throw new errors.InvalidRequest(
          `the ${label} is one of this server's access tokens, not an ID token`,
        );
      }
      try {
        const { payload } = await jwtVerify(token, ownKeys, {
          issuer,
          algorithms: ALGORITHMS,
          typ: "at+jwt",
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ["exp", "sub"],
        });
        return { claims: payload as CheckedToken["claims"], foreign: false };
      } catch (error) {
        throw new errors.InvalidRequest(ownTokenFailure(error, label));
      }
    }
    const trusted = app.federated?.some((credential) => credential.issuer === iss);
    if (!trusted) {
      throw new errors.InvalidRequest(
        `the ${label}'s issuer ${JSON.stringify(iss)} is neither this server nor a federated issuer of the app "${app.clientId}"`,
      );
    }
    try {
      const { claims } = await federation.verify(app, token, { label });
      return { claims: claims as CheckedToken["claims"], foreign: true };
    } catch (error) {
      if (error instanceof FederationCheckError) throw new errors.InvalidRequest(error.message);
      throw error;
    }
  }

  /** Issues an access token about `principal` for the requested API, as client credentials would. */
  async function issue(ctx: TokenEndpointGrantContext, principal: Principal, issuedTokenType?: string) {
    const { client, params } = ctx.oidc;
    let resource = params.resource;
    if (Array.isArray(resource)) {
      if (resource.length > 1) {
        throw new errors.InvalidTarget("one API per request: send a single resource (or audience)");
      }
      resource = resource[0];
    }
    resource ??= await resources.defaultResource(ctx, client);
    if (!resource) throw new errors.InvalidTarget("name the API with resource (or audience)");
    const info = await resources.getResourceServerInfo(ctx, resource, client);
    const resourceServer = new provider.ResourceServer(resource, info);
    const requested = String(params.scope ?? "")
      .split(" ")
      .filter((scope) => scope && resourceServer.scopes.has(scope));

    const lifetime = info.accessTokenTTL ?? 3600;
    const remaining = principal.notAfter === undefined ? lifetime : principal.notAfter - epochSeconds();
    const token = new provider.ClientCredentials({
      client,
      scope: requested.join(" ") || undefined,
      expiresIn: Math.max(1, Math.min(lifetime, remaining)),
    });
    token.resourceServer = resourceServer;
    principals.set(token, { sub: principal.sub, ...(principal.act ? { act: principal.act } : {}) });

    const proof = ctx.get("DPoP");
    if (proof) {
      try {
        const checked = await dpop.verify({ proof, method: ctx.method, url: ctx.oidc.urlFor("token") });
        await dpop.remember(checked);
        token.setThumbprint("jkt", checked.thumbprint);
      } catch (error) {
        if (error instanceof InvalidDpopProofError) throw new errors.InvalidDpopProof(error.message);
        throw error;
      }
    } else if (client.dpopBoundAccessTokens) {
      throw new errors.InvalidGrant("DPoP proof JWT not provided");
    }

    ctx.oidc.entity("ClientCredentials", token);
    const value = await token.save();
    ctx.body = Object.fromEntries(
      Object.entries({
        access_token: value,
        issued_token_type: issuedTokenType,
        token_type: token.tokenType,
        expires_in: token.expiration,
        scope: token.scope || undefined,
      }).filter(([, v]) => v !== undefined),
    );
  }

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const params = ctx.oidc.params as Record<string, string | undefined>;
      const app = appOf(ctx);
      const {
        subject_token: subjectToken,
        subject_token_type: subjectTokenType,
        actor_token: actorToken,
        actor_token_type: actorTokenType,
      } = params;
      if (!subjectToken) throw new errors.InvalidRequest("subject_token is required (RFC 8693 §2.1)");
      if (!subjectTokenType)
        throw new errors.InvalidRequest("subject_token_type is required (RFC 8693 §2.1)");
      if (actorToken && !actorTokenType) {
        throw new errors.InvalidRequest("actor_token_type is required with actor_token (RFC 8693 §2.1)");
      }
      if (actorTokenType && !actorToken) {
        throw new errors.InvalidRequest("actor_token_type is sent without actor_token (RFC 8693 §2.1)");
      }
      const requestedType = params.requested_token_type ?? TOKEN_TYPES.accessToken;
      if (!ISSUED_TYPES.includes(requestedType)) {
        throw new errors.InvalidRequest(
          `unsupported requested_token_type ${JSON.stringify(requestedType)}: this server issues JWT access tokens (${ISSUED_TYPES.join(", ")})`,
        );
      }
      const subject = await checkToken(app, subjectToken, subjectTokenType, "subject_token");
      const actor =
        actorToken && actorTokenType
          ? await checkToken(app, actorToken, actorTokenType, "actor_token")
          : undefined;
      const current: Record<string, unknown> = actor
        ? { sub: actor.claims.sub, ...(actor.foreign ? { iss: actor.claims.iss } : {}) }
        : { sub: app.clientId };
      const mayAct = subject.claims.may_act as Record<string, unknown> | undefined;
      if (
        mayAct &&
        typeof mayAct === "object" &&
        (mayAct.sub !== current.sub || (mayAct.iss !== undefined && mayAct.iss !== (current.iss ?? issuer)))
      ) {
        throw new errors.InvalidRequest(
          `the subject_token's may_act does not name the actor ${JSON.stringify(current.sub)} (RFC 8693 §4.4)`,
        );
      }
      const prior = subject.claims.act;
      const selfDelegation = !actor && !subject.foreign && subject.claims.sub === app.clientId;
      const act =
        selfDelegation && prior === undefined
          ? undefined
          : { ...current, ...(prior && typeof prior === "object" ? { act: prior } : {}) };
      await issue(
        ctx,
        { sub: subject.claims.sub, act, notAfter: subject.claims.exp as number },
        requestedType,
      );
    },
    [
      "subject_token",
      "subject_token_type",
      "actor_token",
      "actor_token_type",
      "requested_token_type",
      "scope",
      "resource",
    ],
    ["resource"],
  );

  provider.registerGrantType(
    JWT_BEARER_GRANT,
    async (ctx) => {
      const assertion = (ctx.oidc.params as Record<string, string | undefined>).assertion;
      if (!assertion) throw new errors.InvalidRequest("assertion is required (RFC 7523 §2.1)");
      const app = appOf(ctx);
      let claims: JWTPayload;
      try {
        ({ claims } = await federation.verify(app, assertion, { label: "assertion" }));
      } catch (error) {
        if (error instanceof FederationCheckError) throw new errors.InvalidGrant(error.message);
        throw error;
      }
      await issue(ctx, { sub: claims.sub as string });
    },
    ["assertion", "scope", "resource"],
    ["resource"],
  );
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Why a token of this server is refused, from jose's error. */
function ownTokenFailure(error: unknown, label: string): string {
  if (error instanceof jose.JWTExpired) return `the ${label} has expired`;
  if (error instanceof jose.JWTClaimValidationFailed) {
    if (error.claim === "typ") return `the ${label} is not an access token of this server (typ at+jwt)`;
    return `the ${label}'s ${error.claim} is invalid (${error.reason})`;
  }
  if (error instanceof jose.JWKSNoMatchingKey || error instanceof jose.JWSSignatureVerificationFailed) {
    return `the ${label}'s signature does not verify with this server's keys`;
  }
  return `the ${label} is not a valid JWT`;
}

/**
 * RFC 6749 §5.2: a grant type the app may not use is `unauthorized_client` (oidc-provider answers
 * `invalid_request`), naming the app and its `grantTypes`.
 */
export function unauthorizedClientAnswer(apps: Map<string, DevApp>) {
  return async function unauthorizedClient(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    await next();
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (
      ctx.oidc?.route === "token" &&
      body?.error === "invalid_request" &&
      body.error_description === "requested grant type is not allowed for this client"
    ) {
      const app = apps.get(ctx.oidc.client?.clientId ?? "");
      const allowed = app?.grantTypes ?? ["client_credentials"];
      ctx.body = {
        error: "unauthorized_client",
        error_description: `the app "${app?.clientId}" may not use the grant type ${String(ctx.oidc.params?.grant_type)} (its grantTypes: ${allowed.join(", ")})`,
      };
    }
  };
}
