import { open, realpath } from "node:fs/promises";
import { resolve } from "node:path";
import { decodeJwt } from "jose";
import { checkOptionNames, type OptionNames } from "../lib/option-names.js";
import { type AssertionKind, type AssertionSource, SourceFailure } from "../workload/source.js";

/** Options of {@link fileAssertion}. */
export interface FileAssertionOptions {
  /**
   * What the file holds: `"jwt-bearer"` (a JWT: a Kubernetes projected service-account token, the file
   * of `AZURE_FEDERATED_TOKEN_FILE`) or `"jwt-spiffe"` (a SPIFFE JWT-SVID written by spiffe-helper).
   * Default `"jwt-bearer"`.
   */
  kind?: AssertionKind;
}

/** The names of {@link FileAssertionOptions}. */
export const FILE_ASSERTION_OPTION_NAMES: OptionNames<FileAssertionOptions> = { kind: true };

/**
 * The folders of a pod's default service-account token. Its audience is the cluster's API server:
 * sent to an authorization server, it hands that server a credential for the cluster.
 */
const DEFAULT_SERVICE_ACCOUNT_FOLDERS = [
  "/var/run/secrets/kubernetes.io/serviceaccount/",
  "/run/secrets/kubernetes.io/serviceaccount/",
];

/** Also the cluster's API server: an `aud` naming it is a default service-account token moved elsewhere. */
const API_SERVER_AUDIENCE = /^https:\/\/kubernetes\.default\.svc(?:[.:/]|$)/;

/** A token file is small; a larger one is not a token. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

const REFUSAL =
  "is the pod's default service-account token, whose audience is the cluster's API server: sending it to an authorization server would hand that server a credential for the cluster. Mount a projected service-account token with the authorization server as its audience (serviceAccountToken.audience) and read that file";

function isDefaultServiceAccountToken(path: string): boolean {
  return DEFAULT_SERVICE_ACCOUNT_FOLDERS.some((folder) => path.startsWith(folder));
}

/**
 * An {@link AssertionSource} that reads a token file on every token request: a Kubernetes projected
 * service-account token (the kubelet rewrites it before it expires), the file `AZURE_FEDERATED_TOKEN_FILE`
 * names, a SPIFFE JWT-SVID written by spiffe-helper (`kind: "jwt-spiffe"`). Errors name the path, never
 * what it holds. At most 64 KiB are read; a pipe (`/dev/stdin`, a shell's `<(…)`) gives its token to
 * the first read only.
 *
 * The pod's default service-account token (`/var/run/secrets/kubernetes.io/serviceaccount/token`,
 * through any link to it, or any token whose audience is `https://kubernetes.default.svc`) is refused:
 * its audience is the cluster's API server.
 *
 * @throws TypeError at creation for an empty path, the default service-account token's path, or a bad option.
 * @example
 * ```ts
 * new ClientCredentialsClient({
 *   issuer, clientId,
 *   clientAssertion: fileAssertion("/var/run/secrets/tokens/m2m-token"),
 * });
 * ```
 */
export function fileAssertion(path: string, options: FileAssertionOptions = {}): AssertionSource {
  if (typeof path !== "string" || path === "")
    throw new TypeError("fileAssertion: path must be a non-empty string");
  if (typeof options !== "object" || options === null)
    throw new TypeError("fileAssertion options must be an object");
  checkOptionNames(options, [FILE_ASSERTION_OPTION_NAMES], "fileAssertion()");
  const kind = options.kind ?? "jwt-bearer";
  if (kind !== "jwt-bearer" && kind !== "jwt-spiffe") {
    throw new TypeError('fileAssertion: kind must be "jwt-bearer" or "jwt-spiffe"');
  }
  const absolute = resolve(path);
  if (isDefaultServiceAccountToken(absolute)) throw new TypeError(`fileAssertion: ${absolute} ${REFUSAL}`);
  const description = `file ${absolute}`;
  const source: AssertionSource = {
    description,
    kind,
    async getAssertion() {
      let text: string;
      try {
        text = await readToken(absolute);
      } catch (error) {
        if (error instanceof SourceFailure) throw error;
        throw readFailure(error);
      }
      const token = text.trim();
      if (addressesApiServer(token)) throw new SourceFailure(`it ${REFUSAL}`, { problem: "refused" });
      return token;
    },
  };
  Object.defineProperty(source, "toString", { value: () => description, enumerable: false });
  return source;
}

/**
 * The file's text, read up to {@link MAX_TOKEN_FILE_BYTES}: a wrong path to a large file, a device or a
 * pipe is refused after that many bytes, not read in full on every token request. The default
 * service-account token is refused by where the file really is.
 */
async function readToken(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    // Through links too: the kubelet's own files are links into a dated folder. A pipe (`<(…)`,
    // /dev/stdin) has no path to resolve; what it holds is checked by its audience.
    if ((await handle.stat()).isFile() && isDefaultServiceAccountToken(await realpath(path))) {
      throw new SourceFailure(`it ${REFUSAL}`, { problem: "refused" });
    }
    const buffer = new Uint8Array(MAX_TOKEN_FILE_BYTES + 1);
    let size = 0;
    while (size < buffer.length) {
      const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    if (size > MAX_TOKEN_FILE_BYTES) {
      throw new SourceFailure(
        `the file is larger than ${MAX_TOKEN_FILE_BYTES} bytes; it does not hold a token`,
      );
    }
    return new TextDecoder().decode(buffer.subarray(0, size));
  } finally {
    await handle.close();
  }
}

function addressesApiServer(token: string): boolean {
  try {
    const { aud } = decodeJwt(token);
    return (Array.isArray(aud) ? aud : [aud]).some(
      (a) => typeof a === "string" && API_SERVER_AUDIENCE.test(a),
    );
  } catch {
    return false; // not a JWT: the client says so
  }
}

/** Why a file cannot be read, by its error code only (a message may quote more than the path). */
function readFailure(error: unknown): SourceFailure {
  const code = (error as { code?: unknown })?.code;
  const why =
    code === "ENOENT"
      ? "the file does not exist (is the projected volume mounted, and the path right?)"
      : code === "EACCES" || code === "EPERM"
        ? "the file cannot be read by this process (permission denied)"
        : code === "EISDIR"
          ? "the path is a folder, not a file"
          : `the file cannot be read (${typeof code === "string" ? code : "error"})`;
  // A file being replaced may briefly be missing or busy.
  return new SourceFailure(why, { transient: code === "EAGAIN" || code === "EBUSY", cause: error });
}
