/**
 * A small real API on 127.0.0.1 that verifies the access tokens of a test oidc-provider (signature,
 * issuer, audience) and, when armed, revokes the first valid token it sees: that token gets a 401
 * from then on (as after a secret rotation or an admin action), every other valid token a 200.
 */
import { createServer } from "node:http";
import { createLocalJWKSet, jwtVerify } from "jose";
import { listen } from "./http.js";
import type { RunningProvider } from "./oidc.js";

export interface ApiRequest {
  token: string;
  status: 200 | 401;
}

export interface RevokingApi {
  /** Base URL; every path answers the same way. */
  url: string;
  /** Every request, in order of arrival. */
  readonly requests: ApiRequest[];
  /** Tokens answered 401 although valid. */
  readonly revoked: Set<string>;
  /** Revoke the next valid token that arrives (on at start). */
  arm(): void;
  /** Forget requests and revocations, and arm again. */
  reset(): void;
  close(): Promise<void>;
}

export async function startRevokingApi(
  provider: RunningProvider,
  options: { audience: string },
): Promise<RevokingApi> {
  const jwks = createLocalJWKSet(provider.jwks);
  const requests: ApiRequest[] = [];
  const revoked = new Set<string>();
  let armed = true;
  const server = createServer(async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const record: ApiRequest = { token, status: 401 };
    requests.push(record);
    let valid = false;
    try {
      await jwtVerify(token, jwks, { issuer: provider.issuer, audience: options.audience });
      valid = true;
    } catch {
      // Not a token of this provider for this API.
    }
    if (valid && armed) {
      armed = false;
      revoked.add(token);
    }
    if (valid && !revoked.has(token)) {
      record.status = 200;
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      return;
    }
    res
      .writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": 'Bearer error="invalid_token"',
      })
      .end('{"error":"invalid_token"}');
  });
  const { url, close } = await listen(server);
  return {
    url,
    requests,
    revoked,
    arm: () => {
      armed = true;
    },
    reset: () => {
      requests.length = 0;
      revoked.clear();
      armed = true;
    },
    close,
  };
}
