import { decodeJwt, decodeProtectedHeader } from "jose";
import { type Command, EXIT, type Io, paint, type Values } from "../command.js";
import { isoTimes, tokenArgument } from "../token-argument.js";

async function run(values: Values, positionals: string[], io: Io): Promise<number> {
  const token = await tokenArgument(positionals, io);
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token);
  } catch {
    io.err("not a JWT: the token could not be decoded");
    return EXIT.failed;
  }
  const exp = claims.exp;
  const expiresInSeconds = typeof exp === "number" ? Math.round(exp - Date.now() / 1000) : undefined;
  if (values.json) {
    io.out(JSON.stringify({ header, claims, times: isoTimes(claims), expiresInSeconds }, null, 2));
    return EXIT.ok;
  }
  const human: Record<string, unknown> = { ...claims };
  for (const [name, iso] of Object.entries(isoTimes(claims))) human[name] = `${claims[name]} (${iso})`;
  io.out(paint(io, 1, "header"));
  io.out(JSON.stringify(header, null, 2));
  io.out(paint(io, 1, "claims"));
  io.out(JSON.stringify(human, null, 2));
  if (expiresInSeconds !== undefined) {
    io.out(
      expiresInSeconds > 0
        ? `expires in ${expiresInSeconds} s`
        : paint(io, 31, `expired ${-expiresInSeconds} s ago`),
    );
  }
  return EXIT.ok;
}

/** `m2m decode`: a token's header and claims, verifying nothing. */
export const decodeCommand: Command = {
  usage: "m2m decode <token | -> [--json]",
  summary: "show a token's header and claims",
  description: `Shows the header and claims of a JWT, with times in ISO 8601. Does not verify anything. "-" reads
stdin; a leading "Bearer " is ignored.`,
  options: [
    {
      name: "json",
      type: "boolean",
      help: "print { header, claims, times } as JSON (times stay numeric; ISO 8601 in times)",
    },
  ],
  positionals: true,
  run,
};
