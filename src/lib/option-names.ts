/**
 * Option names (DESIGN.md "Fail closed on configuration"): every options object refuses a name it
 * does not know, with a `TypeError` that names it and the closest known name. A misspelt option is
 * never a default in disguise (`requiredScope` leaving a route open to every scope).
 */

/** Every key of every member of a union (`keyof` of a union keeps only the common keys). */
type KeysOf<T> = T extends unknown ? keyof T : never;

/**
 * The option names of `T` (of every member, for a union), without those of `Except`: a record that
 * must list each of them and nothing else, so a name added to the interface and not to its list is a
 * compile error.
 */
export type OptionNames<T, Except = never> = {
  readonly [K in Exclude<KeysOf<T>, KeysOf<Except>> & string]: true;
};

/** A list of known names, as {@link OptionNames} makes them. */
export type NameList = { readonly [name: string]: true };

/** Whether `name` is in one of the lists (own keys only: `constructor` is not an option). */
export function isKnownName(name: string, lists: readonly NameList[]): boolean {
  for (const list of lists) if (Object.hasOwn(list, name)) return true;
  return false;
}

/**
 * Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions), compared
 * without case, so `Audience` is 0 from `audience`.
 */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let before: number[] = [];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        value = Math.min(value, (before[j - 2] as number) + 1);
      }
      current.push(value);
    }
    before = previous;
    previous = current;
  }
  return previous[t.length] as number;
}

/**
 * The known name `name` most likely stands for: the same name in another case, else the nearest
 * within two edits (one when either name has four letters or fewer, where two edits reach unrelated
 * words). `undefined` when none is that near.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const limit = Math.min(name.length, candidate.length) <= 4 ? 1 : 2;
    if (Math.abs(name.length - candidate.length) > limit) continue;
    const d = distance(name, candidate);
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** A name as it appears in a message: quoted when it is not a plain identifier. */
function shown(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

/**
 * The `TypeError` for an unknown name: `requiredScope is not an option of requireAuth(); did you
 * mean requiredScopes?`. `prefix` places a nested object (`jwks.`, `issuers[1].`).
 */
export function unknownOption(
  name: string,
  lists: readonly NameList[],
  where: string,
  prefix = "",
): TypeError {
  const suggestion = closestName(
    name,
    lists.flatMap((list) => Object.keys(list)),
  );
  const hint = suggestion === undefined ? "" : `; did you mean ${prefix}${suggestion}?`;
  return new TypeError(`${prefix}${shown(name)} is not an option of ${where}${hint}`);
}

/** Whether `options` is a plain object: its names are its own enumerable ones. */
function isPlain(options: object): boolean {
  const proto = Object.getPrototypeOf(options);
  return proto === Object.prototype || proto === null;
}

/**
 * The names of an options object as reading it sees them: its own names, and those it inherits from
 * prototypes other than `Object.prototype` (an `Object.create(base)`, a class with getters), whether
 * enumerable or not, `constructor` aside. Reading `options.requiredScopes` finds an inherited value,
 * so the check of names must find an inherited misspelling too.
 */
export function optionNamesOf(options: object): string[] {
  if (isPlain(options)) return Object.keys(options);
  const names = new Set<string>();
  for (let level: object | null = options; level !== null && level !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(level)) {
      if (level !== options && name === "constructor") continue;
      names.add(name);
    }
    level = Object.getPrototypeOf(level) as object | null;
  }
  return [...names];
}

/**
 * Refuses a name of `options` that none of `lists` holds (a `TypeError` naming it and the closest
 * known name), own or inherited (see {@link optionNamesOf}). Free-form maps (`extraParams`, `claims`)
 * are not passed here. `options` that is not an object is left to the caller's type check.
 */
export function checkOptionNames(
  options: unknown,
  lists: readonly NameList[],
  where: string,
  prefix = "",
): void {
  if (typeof options !== "object" || options === null) return;
  if (isPlain(options)) {
    // for…in allocates nothing: verify()'s call options are checked on every call.
    for (const name in options) {
      if (!isKnownName(name, lists) && Object.hasOwn(options, name)) {
        throw unknownOption(name, lists, where, prefix);
      }
    }
    return;
  }
  for (const name of optionNamesOf(options)) {
    if (!isKnownName(name, lists)) throw unknownOption(name, lists, where, prefix);
  }
}

/**
 * The options as a plain object of the known names they have, each read once as a property access
 * reads it (own or inherited, a getter called): what code that copies or lists options
 * (`{ ...options }`, `Object.entries`) must work on, so that an inherited option is never dropped.
 * A plain object is returned as it is.
 */
export function knownOptions<T extends object>(options: T, lists: readonly NameList[]): T {
  if (isPlain(options)) return options;
  const copy: Record<string, unknown> = {};
  for (const list of lists) {
    for (const name of Object.keys(list)) {
      if (name in options) copy[name] = (options as Record<string, unknown>)[name];
    }
  }
  return copy as T;
}

/**
 * Whether `value` can be an options object: any object but an array (its names are checked, and
 * read through its prototypes, see {@link optionNamesOf} and {@link knownOptions}).
 */
export function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A free-form map (`claims`, `extraParams`, `logEvents`' `levels`): its entries are its own names,
 * so it must be a plain object — one with a prototype would lose what it inherits.
 */
export function isFreeFormMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && isPlain(value);
}

/**
 * For an object m2m-kit shares with others (Fastify's route `config`, `fetch`'s init), where unknown
 * names belong to someone else: the known name that `name` misspells, or `undefined` when it is
 * known or not near one.
 */
export function nearMiss(name: string, list: NameList): string | undefined {
  if (Object.hasOwn(list, name)) return undefined;
  return closestName(name, Object.keys(list));
}

/** Refuses only the near-misses of `list`'s names in a shared object (see {@link nearMiss}). */
export function checkNearMisses(options: unknown, list: NameList, where: string): void {
  if (typeof options !== "object" || options === null) return;
  for (const name of optionNamesOf(options)) {
    const meant = nearMiss(name, list);
    if (meant !== undefined) {
      throw new TypeError(`${shown(name)} is not an option of ${where}; did you mean ${meant}?`);
    }
  }
}
