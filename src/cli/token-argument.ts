import { type Io, UsageError } from "./command.js";

/** The token argument: the value, or stdin for "-"; a leading `Bearer ` (as copied from a header) is dropped. */
export async function tokenArgument(positionals: string[], io: Io): Promise<string> {
  const value = positionals[0];
  if (value === undefined) throw new UsageError("a token (or - for stdin) is required");
  if (positionals.length > 1) throw new UsageError('one token at a time (quote a "Bearer …" value)');
  const raw = value === "-" ? await io.stdin() : value;
  const token = raw.trim().replace(/^bearer\s+/i, "");
  if (token === "") throw new UsageError("the token is empty");
  return token;
}

const TIME_CLAIMS = ["exp", "nbf", "iat", "auth_time"];

/** ISO 8601 strings of the numeric time claims. */
export function isoTimes(claims: Record<string, unknown>): Record<string, string> {
  const times: Record<string, string> = {};
  for (const name of TIME_CLAIMS) {
    const value = claims[name];
    if (typeof value === "number" && Number.isFinite(value))
      times[name] = new Date(value * 1000).toISOString();
  }
  return times;
}
