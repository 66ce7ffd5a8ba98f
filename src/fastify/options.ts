import type { RegisterOptions } from "fastify";
import type { AdapterNames, AuthConfig, HttpAuthOptions } from "../http/config.js";
import type { OptionNames } from "../lib/option-names.js";

/** Options of `fastify.requireAuth(options)`: per-hook requirements. */
export interface RouteAuthOptions {
  /** The token must have all of these scopes (an empty list: authenticated only). */
  scopes?: readonly string[];
  /** The token must have at least one of these scopes. */
  anyScope?: readonly string[];
  /** Let requests without credentials through, with `request.auth` null. */
  optional?: boolean;
}

/** The names of {@link RouteAuthOptions}. */
export const ROUTE_AUTH_OPTION_NAMES: OptionNames<RouteAuthOptions> = {
  scopes: true,
  anyScope: true,
  optional: true,
};

/**
 * What m2m-kit reads from a route's `config` (Fastify's `FastifyContextConfig`, which other plugins
 * share: there only near-misses of these names are refused).
 */
export interface FastifyRouteAuthConfig {
  /** Protect this route; the token must have all of these scopes (`[]`: authenticated only). */
  scopes?: readonly string[];
  /** Protect this route; the token must have at least one of these scopes. */
  anyScope?: readonly string[];
  /** `false` opts this route out of `global: true`. */
  auth?: boolean;
}

/** The names of {@link FastifyRouteAuthConfig}. */
export const ROUTE_CONFIG_NAMES: OptionNames<FastifyRouteAuthConfig> = {
  scopes: true,
  anyScope: true,
  auth: true,
};

export interface FastifyAuthOptions extends HttpAuthOptions {
  /** Protect every route registered after the plugin in its context. Default false. */
  global?: boolean;
  /** Throw failures into Fastify's error handling (with `statusCode` and `headers`) instead of answering. */
  passErrors?: boolean;
}

/** Plugin options: verifier options or `{ verifier }`, plus adapter options. */
export type M2MAuthPluginOptions = AuthConfig & FastifyAuthOptions;

/** The names of {@link FastifyAuthOptions} besides {@link HttpAuthOptions}'. */
export const FASTIFY_OPTION_NAMES: OptionNames<FastifyAuthOptions, HttpAuthOptions> = {
  global: true,
  passErrors: true,
};

/** Fastify's own registration options, which it hands to the plugin with the plugin's. */
export const REGISTER_OPTION_NAMES: OptionNames<RegisterOptions> = {
  prefix: true,
  logLevel: true,
  logSerializers: true,
};

export const PLUGIN: AdapterNames = {
  call: "fastify.register(m2mAuth)",
  options: "fastify.register(m2mAuth)",
  names: [FASTIFY_OPTION_NAMES, REGISTER_OPTION_NAMES],
};

export const RESOURCE_METADATA: AdapterNames = {
  call: "protectedResourceMetadata()",
  options: "protectedResourceMetadata() (second argument)",
  names: [FASTIFY_OPTION_NAMES, REGISTER_OPTION_NAMES],
};
