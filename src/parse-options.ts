import { z } from 'zod';
import { InvalidOptionsError } from './errors.js';
import { unknownKeyHint } from './option-hints.js';
import { redactUrl, urlSecrets } from './redact.js';

type Issue = z.core.$ZodIssue;

/** A schema for an option that takes a function; `what` names it in the error ("a function (req) => string"). */
export const functionOf = <T>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', { message: `Expected ${what}` });

/**
 * Parses options with a zod schema; on failure throws `InvalidOptionsError` whose message names
 * every bad option path and what was expected: the valid values of an enum, where a key that
 * belongs elsewhere goes, and for a typo the likely intended key.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const paths: string[] = [];
  const lines = result.error.issues.flatMap(intoBranch).flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = [...issue.path, key].join('.');
        paths.push(path);
        return `option '${path}' is not known${unknownKeyHint(key, issue.path, schema)}`;
      });
    }
    const path = issue.path.join('.') || '(root)';
    paths.push(path);
    return [`option '${path}': ${describe(issue, valueAt(input, issue.path))}`];
  });
  return throwInvalid(`${where}: ${lines.join('; ')}`, paths, result.error);
}

/**
 * A union whose value took one branch's shape (an array of path rules with one bad rule) reports
 * that branch's own issues, at their full path, instead of "matches no branch".
 */
function intoBranch(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const taken = issue.errors.find(
    (branch) => branch.length > 0 && branch.every((i) => i.path.length > 0),
  );
  if (!taken) return [issue];
  return taken.flatMap((i) => intoBranch({ ...i, path: [...issue.path, ...i.path] } as Issue));
}

function throwInvalid(message: string, paths: string[], cause: unknown): never {
  throw new InvalidOptionsError(message, paths, cause);
}

/** An issue's message, with the valid values spelled out for enums and unions. */
function describe(issue: Issue, received: unknown): string {
  if (issue.code === 'invalid_value') {
    return `expected ${oneOf(issue.values.map(show))}; got ${showReceived(received)}`;
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const choices = issue.errors.flatMap((branch) => branch.slice(0, 1).map(choiceOf));
    if (choices.every((c) => c !== undefined)) {
      return `expected ${choices.join(', or ')}; got ${showReceived(received)}`;
    }
  }
  return issue.message;
}

/** What one union branch wanted, from the first issue it raised at the union's own path. */
function choiceOf(issue: Issue): string | undefined {
  if (issue.path.length > 0) return undefined;
  if (issue.code === 'invalid_value') return oneOf(issue.values.map(show));
  if (issue.message.startsWith('Expected ')) return issue.message.slice('Expected '.length);
  if (issue.code === 'invalid_type') return `a value of type ${issue.expected}`;
  return undefined;
}

function oneOf(items: string[]): string {
  if (items.length <= 1) return items[0] ?? 'nothing';
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/**
 * Strings longer than this are not echoed: a PhotoDNA subscription key has 32 characters, and
 * every valid value (and a typo of one) is shorter than this.
 */
const MAX_SHOWN_LENGTH = 24;

/**
 * A received value, short and safe to print: never a long string such as a key, nor a URL's
 * user name, password or query string (`queue: 'redis://:password@host'`, a presigned URL).
 */
function showReceived(value: unknown): string {
  if (typeof value !== 'string') return show(value);
  const text = urlSecrets(value)?.length ? redactUrl(value) : value;
  return text.length <= MAX_SHOWN_LENGTH ? show(text) : 'a long string';
}

/** A value as written in code: strings quoted, objects by their kind. */
function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : 'an object';
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let current = input;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}
