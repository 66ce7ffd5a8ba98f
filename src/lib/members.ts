/**
 * Symbol-keyed members (`util.inspect`, the instrumentation hook, `verifyNow`) are set on each
 * instance by these helpers instead of being declared as `[symbol]() {}` methods: bundlers treat a
 * class with a computed member as a side effect of its module, and would keep the class and all it
 * uses in every bundle that imports anything from the package.
 */

/**
 * Sets `members` on `target`: not enumerable (invisible to `JSON.stringify`, spread and
 * `Object.keys`), writable and configurable, as `m2m-kit/otel` wraps and restores them.
 */
export function symbolMembers(target: object, members: Record<symbol, unknown>): void {
  for (const key of Object.getOwnPropertySymbols(members)) {
    Object.defineProperty(target, key, { value: members[key], writable: true, configurable: true });
  }
}

const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

const inspectAsString: PropertyDescriptor = {
  value(this: object): string {
    return this.toString();
  },
  writable: true,
  configurable: true,
};

/** Makes Node's `util.inspect` (and `console.log`) print `target.toString()`, whose fields are redacted. */
export function inspectsAsString(target: object): void {
  Object.defineProperty(target, inspectSymbol, inspectAsString);
}
