/**
 * What `client.fetch` does when the API answers 401 (RFC 6750 §3.1 `invalid_token`): the token may be
 * stale (revoked, rotated keys), so it is replaced and the request is sent once more.
 */
export class UnauthorizedPolicy {
  /** Whether to replace the token and send the request once more after this response. */
  shouldResend(response: Response, replayable: boolean): boolean {
    return response.status === 401 && replayable;
  }
}
