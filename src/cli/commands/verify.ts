import { decodeJwt } from "jose";
// The library through its public entry points only (the build turns them into `m2m-kit` imports).
import { createVerifier, M2MError } from "../../index.js";
import type { NodeFetch } from "../../node/index.js";
import {
  type Command,
  cliMessage,
  EXIT,
  type Io,
  type OptionRow,
  paint,
  str,
  UsageError,
  type Values,
} from "../command.js";
import { isoTimes, tokenArgument } from "../token-argument.js";
import { TRANSPORT, transportFrom } from "../transport.js";

const VERIFY_OPTIONS: OptionRow[] = [
  { name: "issuer", type: "string", value: "URL", help: "expected issuer (exact match)" },
  { name: "audience", type: "string", value: "URL", help: "expected audience (your API)" },
  { name: "scope", type: "string", value: '"a b"', help: "scopes the token must carry" },
  { name: "jwks-uri", type: "string", value: "URL", help: "JWKS URL (instead of discovery)" },
  { name: "json", type: "boolean", help: "print the result as JSON" },
  ...TRANSPORT,
];

/** What the token itself says, for an issuer or audience mismatch (read without verifying). */
function tokenSays(token: string): { iss?: unknown; aud?: unknown } {
  try {
    const { iss, aud } = decodeJwt(token);
    return { iss, aud };
  } catch {
    return {};
  }
}

async function run(values: Values, positionals: string[], io: Io): Promise<number> {
  const token = await tokenArgument(positionals, io);
  const issuer = str(values, "issuer");
  const audience = str(values, "audience");
  if (!issuer) throw new UsageError("--issuer is required");
  if (!audience) throw new UsageError("--audience is required");
  const fetch = transportFrom(values, io.env);
  try {
    return await verifyWith(fetch, token, issuer, audience, values, io);
  } finally {
    await fetch.close();
  }
}

async function verifyWith(
  fetch: NodeFetch,
  token: string,
  issuer: string,
  audience: string,
  values: Values,
  io: Io,
): Promise<number> {
  let verifier: ReturnType<typeof createVerifier>;
  try {
    verifier = createVerifier({
      issuer,
      audience,
      jwksUri: str(values, "jwks-uri"),
      fetch,
      allowInsecureHttp: values["allow-insecure-http"] === true,
    });
  } catch (error) {
    throw new UsageError(cliMessage((error as Error).message));
  }
  const scope = str(values, "scope");
  try {
    // A bound token's proof or certificate belongs to each request, which a command line never sees:
    // the binding is shown, not checked.
    const auth = await verifier.verify(token, {
      confirmation: "checked-by-caller",
      ...(scope && { requiredScopes: scope }),
    });
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            valid: true,
            clientId: auth.clientId,
            subject: auth.subject,
            issuer: auth.issuer,
            scopes: auth.scopes,
            expiresAt: auth.expiresAt,
            expiresAtIso: new Date(auth.expiresAt).toISOString(),
            header: auth.header,
            claims: auth.claims,
            times: isoTimes(auth.claims as Record<string, unknown>),
          },
          null,
          2,
        ),
      );
    } else {
      io.out(
        `${paint(io, 32, "valid")}: client ${auth.clientId ?? "(none)"}, scopes [${auth.scopes.join(" ")}], expires ${new Date(auth.expiresAt).toISOString()}${boundTo(auth.claims.cnf)}`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof M2MError)) throw error;
    const says = tokenSays(token);
    const mismatch: Record<string, unknown> = {};
    if (error.code === "ERR_JWT_ISSUER") mismatch.iss = says.iss;
    if (error.code === "ERR_JWT_AUDIENCE") mismatch.aud = says.aud;
    if (values.json) {
      io.out(
        JSON.stringify({ valid: false, code: error.code, message: error.message, token: mismatch }, null, 2),
      );
      return EXIT.failed;
    }
    io.out(`${paint(io, 31, "invalid")}: ${error.code}: ${error.message}`);
    if ("iss" in mismatch) {
      io.out(`  the token's iss: ${JSON.stringify(mismatch.iss)}`);
      io.out(`  --issuer:        ${JSON.stringify(issuer)}`);
      if (typeof mismatch.iss === "string" && mismatch.iss.replace(/\/$/, "") === issuer.replace(/\/$/, "")) {
        io.out("  they differ only by a trailing slash: the issuer must match exactly");
      }
    }
    if ("aud" in mismatch) {
      io.out(`  the token's aud: ${JSON.stringify(mismatch.aud)}`);
      io.out(`  --audience:      ${JSON.stringify(audience)}`);
    }
    return EXIT.failed;
  }
}

/** `m2m verify`: a token checked against an issuer's keys. */
export const verifyCommand: Command = {
  usage: "m2m verify <token | -> --issuer URL --audience URL [options]",
  summary: "verify a token against an issuer's keys",
  description: `Verifies signature, issuer, audience, expiry and scopes. Exit 0 when valid, 1 with the reason when not
(for a wrong issuer or audience, the token's own iss and aud are shown). "-" reads stdin; a leading
"Bearer " is ignored.`,
  options: VERIFY_OPTIONS,
  positionals: true,
  run,
};

/** The binding of a sender-constrained token (RFC 7800 `cnf`), which each request to the API must prove. */
function boundTo(cnf: unknown): string {
  if (typeof cnf !== "object" || cnf === null) return "";
  const names = Object.keys(cnf).map((name) =>
    name === "jkt"
      ? "a DPoP key (jkt)"
      : name === "x5t#S256"
        ? "a client certificate (x5t#S256)"
        : /^[\w#.-]{1,32}$/.test(name)
          ? `cnf.${name}`
          : "an unknown method",
  );
  return `, bound to ${names.join(" and ")}: each request must prove it`;
}
