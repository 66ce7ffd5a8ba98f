import type { KoaContextWithOIDC, errors as ProviderErrors, ResourceServer } from "oidc-provider";
import type { DevApi, DevApp } from "./config.js";

/** Which API a token is for and with which scopes: the console's grants, for every grant type. */
export interface DevResources {
  /**
   * The API of a request that names none: the app's only API. An app granted several must choose
   * (otherwise it would get a token no API accepts): `invalid_target` naming them.
   */
  defaultResource(
    ctx: KoaContextWithOIDC,
    client: { clientId: string } | undefined,
  ): Promise<string | undefined>;
  /**
   * The token settings of an API for an app: `invalid_target` for an unknown API or one the app is not
   * granted, `invalid_scope` for requested scopes (`ctx.oidc.params.scope`) it is not granted.
   */
  getResourceServerInfo(
    ctx: KoaContextWithOIDC,
    identifier: string,
    client: { clientId: string } | undefined,
  ): Promise<ResourceServer>;
}

export function createResources(
  apis: Map<string, DevApi>,
  apps: Map<string, DevApp>,
  errors: typeof ProviderErrors,
): DevResources {
  return {
    defaultResource: async (_ctx, client) => {
      const granted = Object.keys(apps.get(client?.clientId ?? "")?.grants ?? {});
      if (granted.length > 1) {
        throw new errors.InvalidTarget(
          `the app is authorized for several APIs; name one with resource (or audience): ${granted.join(", ")}`,
        );
      }
      return granted[0];
    },
    getResourceServerInfo: async (ctx, identifier, client) => {
      const api = apis.get(identifier);
      if (!api) throw new errors.InvalidTarget(`unknown API ${identifier}`);
      const granted = apps.get(client?.clientId ?? "")?.grants[identifier];
      if (!granted) {
        throw new errors.InvalidTarget(`the app is not authorized for the API ${identifier}`);
      }
      const requested = String(ctx.oidc.params?.scope ?? "")
        .split(" ")
        .filter(Boolean);
      const refused = requested.filter((scope) => !granted.includes(scope));
      if (refused.length > 0) {
        throw new errors.InvalidScope(
          `the app is not authorized for ${refused.join(" ")}`,
          refused.join(" "),
        );
      }
      return {
        scope: granted.join(" "),
        audience: api.identifier,
        accessTokenTTL: api.tokenLifetimeSeconds ?? 3600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: api.signingAlg ?? "RS256" } },
      };
    },
  };
}
