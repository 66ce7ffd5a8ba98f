/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Checks configured scopes at creation: each must be an RFC 6749 §3.3 scope token (visible ASCII
 * except `"` and `\`). A scope with a line break or a non-ASCII letter would otherwise reach a
 * `WWW-Authenticate` header or a token request and fail there, on every request.
 *
 * @throws TypeError naming `option` and the scope.
 */
export function checkScopeTokens(scopes: readonly string[], option: string): void {
  for (const scope of scopes) {
    if (typeof scope !== "string" || !SCOPE_TOKEN.test(scope)) {
      throw new TypeError(
        `${option} must hold RFC 6749 §3.3 scope tokens (visible ASCII except space, " and \\); ${JSON.stringify(scope)} is not one`,
      );
    }
  }
}
