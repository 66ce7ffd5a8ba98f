import { inspectsAsString } from "../lib/members.js";
/** What a client keeps for one cache key. Stores persist this shape. */
export interface StoredToken {
  /** The access token string as the token endpoint returned it. Stores should encrypt it at rest. */
  accessToken: string;
  /** The response's `token_type` (`Bearer`, `DPoP`), as the server spelled it. */
  tokenType: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** When a background refresh should start, ms since the epoch. */
  refreshAt: number;
  /**
   * When the token was obtained (its request was sent), ms since the epoch. Shared stores order
   * writes by it (a token obtained earlier never replaces one obtained later) and refuse an entry
   * without it or obtained in the future. The client always sets it.
   */
  obtainedAt?: number;
  /** Scopes granted (the response's `scope`, else the requested ones), sorted. */
  scope: string[];
  /** The audience the token was requested for; `undefined` when none was named. */
  audience: string | undefined;
  /** RFC 8693 §2.2.1 `issued_token_type` of a token exchange answer, when the server sent one. */
  issuedTokenType?: string;
}

/**
 * An access token from the client credentials grant. `toString()`, `JSON.stringify` and
 * `util.inspect` redact the token itself; read it from `accessToken`.
 */
export class AccessToken {
  readonly #value: string;
  /** Token type: `Bearer`, `DPoP`, or `N_A` for a token exchange that issued no access token (RFC 8693 §2.2.1). */
  readonly tokenType: string;
  /**
   * Expiry, in milliseconds since the epoch, measured from when the request was sent. A lifetime
   * longer than one year is capped to one year.
   */
  readonly expiresAt: number;
  /** Scopes granted (the response's `scope`, else the requested ones). */
  readonly scope: readonly string[];
  /** The audience the token was requested for, if any. */
  readonly audience: string | undefined;
  /**
   * What a token exchange issued (RFC 8693 §2.2.1 `issued_token_type`, e.g.
   * `urn:ietf:params:oauth:token-type:access_token`); `undefined` when the answer did not say.
   */
  readonly issuedTokenType: string | undefined;

  constructor(stored: StoredToken) {
    inspectsAsString(this);
    this.#value = stored.accessToken;
    this.tokenType = stored.tokenType;
    this.expiresAt = stored.expiresAt;
    this.scope = Object.freeze([...stored.scope]);
    this.audience = stored.audience;
    this.issuedTokenType = stored.issuedTokenType;
  }

  /** The access token string, for an `Authorization` header. */
  get accessToken(): string {
    return this.#value;
  }

  /** `Authorization` header value, e.g. `Bearer eyJ…`. */
  get authorization(): string {
    return `${this.tokenType} ${this.#value}`;
  }

  /** For `JSON.stringify`: every field, with `accessToken` as `"[redacted]"`. */
  toJSON(): Record<string, unknown> {
    return {
      accessToken: "[redacted]",
      tokenType: this.tokenType,
      expiresAt: this.expiresAt,
      scope: this.scope,
      audience: this.audience,
      ...(this.issuedTokenType !== undefined && { issuedTokenType: this.issuedTokenType }),
    };
  }

  /** Type, audience and expiry (ISO 8601); never the token. */
  toString(): string {
    return `AccessToken { tokenType: ${this.tokenType}, audience: ${this.audience ?? "(none)"}, expiresAt: ${isoDate(this.expiresAt)} }`;
  }
}

/** An ISO date, or the number itself when it is not a date (`toString` must never throw). */
function isoDate(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
