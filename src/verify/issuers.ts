import { DiscoveryError, VerifierUnavailableError } from "../errors.js";
import { discover } from "../lib/discovery.js";
import type { FetchLike } from "../lib/http.js";
import type { RunOperation } from "../lib/instrumentation.js";
import type { Platform } from "../platform/types.js";
import { type JwksSettings, RemoteJwks } from "./jwks.js";

export interface IssuerKeysOptions<Key> {
  issuers: ReadonlySet<string>;
  /** One JWKS for every issuer; otherwise each issuer's `jwks_uri` from discovery. */
  jwksUri: string | undefined;
  settings: JwksSettings;
  fetch: FetchLike;
  now: () => number;
  platform: Platform<Key>;
  allowInsecureHttp: boolean;
  /** Runs discoveries and JWKS fetches as operations (instrumentation). */
  run?: RunOperation;
}

/**
 * Routes an issuer to its key set: one shared JWKS (`jwksUri`) or one per issuer found by discovery,
 * lazily on the issuer's first token. A failed discovery is remembered for the cooldown.
 */
export class IssuerKeys<Key> {
  readonly #options: IssuerKeysOptions<Key>;
  readonly #shared: RemoteJwks<Key> | undefined;
  readonly #byIssuer = new Map<string, RemoteJwks<Key>>();
  readonly #discovering = new Map<string, Promise<RemoteJwks<Key>>>();
  readonly #failedAt = new Map<string, { at: number; error: VerifierUnavailableError }>();

  constructor(options: IssuerKeysOptions<Key>) {
    this.#options = options;
    if (options.jwksUri !== undefined) this.#shared = this.#newJwks(options.jwksUri);
  }

  /** Every key set known so far. */
  get all(): ReadonlyArray<RemoteJwks<Key>> {
    return this.#shared ? [this.#shared] : [...this.#byIssuer.values()];
  }

  /** The key set of an issuer when it is already known (no I/O). */
  known(issuer: string): RemoteJwks<Key> | undefined {
    return this.#shared ?? this.#byIssuer.get(issuer);
  }

  /** The key set of an issuer, discovering it first when needed. */
  async forIssuer(issuer: string): Promise<RemoteJwks<Key>> {
    const known = this.known(issuer);
    if (known) return known;
    const failed = this.#failedAt.get(issuer);
    if (failed && this.#options.now() - failed.at < this.#options.settings.cooldownMs) throw failed.error;
    let pending = this.#discovering.get(issuer);
    if (!pending) {
      pending = this.#discover(issuer).finally(() => this.#discovering.delete(issuer));
      this.#discovering.set(issuer, pending);
    }
    return pending;
  }

  /** Discovers and fetches the keys of every issuer now. */
  async warmUp(): Promise<void> {
    if (this.#shared) return this.#shared.warmUp();
    await Promise.all(
      [...this.#options.issuers].map(async (issuer) => (await this.forIssuer(issuer)).warmUp()),
    );
  }

  #newJwks(uri: string): RemoteJwks<Key> {
    const { settings, fetch, now, platform, run } = this.#options;
    return new RemoteJwks(uri, settings, fetch, now, platform, run);
  }

  async #discover(issuer: string): Promise<RemoteJwks<Key>> {
    try {
      const request = () =>
        discover(issuer, {
          fetch: this.#options.fetch,
          timeoutMs: this.#options.settings.timeoutMs,
          allowInsecureHttp: this.#options.allowInsecureHttp,
        });
      const run = this.#options.run;
      const metadata = await (run ? run({ kind: "discovery", issuer }, request) : request());
      if (typeof metadata.jwks_uri !== "string")
        throw new DiscoveryError(`discovery of ${issuer}: no jwks_uri`);
      const jwks = this.#newJwks(metadata.jwks_uri);
      this.#byIssuer.set(issuer, jwks);
      this.#failedAt.delete(issuer);
      return jwks;
    } catch (cause) {
      const error = new VerifierUnavailableError(
        `keys of ${issuer} unavailable: ${(cause as Error).message}`,
        {
          cause,
        },
      );
      this.#failedAt.set(issuer, { at: this.#options.now(), error });
      throw error;
    }
  }
}

/** RFC 8414 `introspection_endpoint` of an issuer, as a `VerifierUnavailableError` when missing. */
export function discoverIntrospectionEndpoint(
  issuer: string,
  options: { fetch: FetchLike; timeoutMs: number; allowInsecureHttp: boolean },
): Promise<string> {
  return discover(issuer, options).then(
    (metadata) => {
      if (typeof metadata.introspection_endpoint !== "string") {
        throw new VerifierUnavailableError(`${issuer} publishes no introspection_endpoint`);
      }
      return metadata.introspection_endpoint;
    },
    (cause: Error) => {
      throw new VerifierUnavailableError(
        `introspection endpoint of ${issuer} unavailable: ${cause.message}`,
        {
          cause,
        },
      );
    },
  );
}
