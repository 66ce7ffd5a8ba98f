/**
 * Typos of known option names, for the tests that every options object refuses a name it does not
 * know and suggests the right one. The names come from each object's list in the source; where the
 * list lives in a public entry file it is written here against the public interface, which makes it
 * a compile error to leave one out.
 */
import { expect } from "vitest";
import type { ExpressAuthOptions } from "../../src/express/index.js";
import type {
  FastifyAuthOptions,
  FastifyRouteAuthConfig,
  RouteAuthOptions,
} from "../../src/fastify/index.js";
import type { HonoAuthOptions } from "../../src/hono/index.js";
import { CERTIFICATE_BINDING_OPTION_NAMES } from "../../src/http/certificate-binding.js";
import { HTTP_AUTH_OPTION_NAMES, type HttpAuthOptions } from "../../src/http/config.js";
import type { NameList, OptionNames } from "../../src/lib/option-names.js";
import { ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES } from "../../src/verify/options.js";
import type { AuthenticateOptions } from "../../src/web/index.js";

/** The names of a list (or of several). */
export function namesOf(...lists: readonly NameList[]): string[] {
  return lists.flatMap((list) => Object.keys(list));
}

/**
 * Each name with its middle letter dropped, its middle letter doubled, and the case of its first
 * letter changed; a typo that is another known name (or the name itself) is left out.
 */
export function typosOf(names: readonly string[]): Array<[typo: string, meant: string]> {
  const pairs: Array<[string, string]> = [];
  for (const name of names) {
    const mid = Math.floor(name.length / 2);
    const first = name.charAt(0);
    const flipped = first === first.toUpperCase() ? first.toLowerCase() : first.toUpperCase();
    const typos = new Set([
      name.slice(0, mid) + name.slice(mid + 1),
      name.slice(0, mid) + name.charAt(mid) + name.slice(mid),
      flipped + name.slice(1),
    ]);
    for (const typo of typos) {
      if (typo !== "" && !names.includes(typo)) pairs.push([typo, name]);
    }
  }
  return pairs;
}

/** The error a typo must raise: a `TypeError` that names it and suggests the name it misspells. */
export function expectTypoError(error: unknown, typo: string, meant: string, prefix = ""): void {
  expect(error, `${prefix}${typo}`).toBeInstanceOf(TypeError);
  const message = (error as Error).message;
  expect(message, `${prefix}${typo}`).toContain(`${prefix}${typo} is not an option of `);
  expect(message, `${prefix}${typo}`).toContain(`did you mean ${prefix}${meant}?`);
}

/** What a call threw, synchronously, or `undefined`. */
export function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** What a promise rejected with, or `undefined` when it resolved. */
export async function rejected(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Names of the verifier options every adapter's configuration takes. */
export const VERIFIER_NAMES = namesOf(ISSUER_OPTION_NAMES, VERIFIER_OPTION_NAMES);

/** Names every adapter's options take. */
export const HTTP_AUTH_NAMES = namesOf(HTTP_AUTH_OPTION_NAMES, CERTIFICATE_BINDING_OPTION_NAMES);

const EXPRESS: OptionNames<ExpressAuthOptions, HttpAuthOptions> = { passErrors: true };
const FASTIFY: OptionNames<FastifyAuthOptions, HttpAuthOptions> = { global: true, passErrors: true };
/** Fastify hands its own registration options to a plugin with the plugin's. */
const FASTIFY_REGISTER = { prefix: true, logLevel: true, logSerializers: true } as const;
const HONO: OptionNames<HonoAuthOptions, HttpAuthOptions> = { httpException: true };
const AUTHENTICATE: OptionNames<AuthenticateOptions, HttpAuthOptions> = { waitUntil: true };

/** Each adapter's own option names besides {@link HTTP_AUTH_NAMES}. */
export const ADAPTER_NAMES = {
  express: namesOf(EXPRESS),
  fastify: namesOf(FASTIFY, FASTIFY_REGISTER),
  hono: namesOf(HONO),
  authenticate: namesOf(AUTHENTICATE),
  withAuth: [] as string[],
};

/** `fastify.requireAuth(options)`. */
export const ROUTE_AUTH_NAMES = namesOf({
  scopes: true,
  anyScope: true,
  optional: true,
} satisfies OptionNames<RouteAuthOptions>);

/** What m2m-kit reads from a Fastify route's `config`. */
export const ROUTE_CONFIG_NAMES = namesOf({
  scopes: true,
  anyScope: true,
  auth: true,
} satisfies OptionNames<FastifyRouteAuthConfig>);
