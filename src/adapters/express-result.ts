import { IncomingMessage } from 'node:http';
import { passedResult } from '../core/recheck.js';

/**
 * `req.photodna` on Express without adding a property to each request. Express sets every
 * request's prototype, so each request gets a V8 map of its own, and a property added after that
 * builds another map and copies its descriptors: about 5 µs, 1.5% of a 50 KiB upload
 * (bench/README.md). Instead, one accessor on Express's base request object (`express.request`,
 * which every app's and mounted app's `request` inherits from) reads the result the guard
 * recorded for the request anyway. Assigning `req.photodna` still works: it sets an own property.
 * Where a request's prototype chain has no such object (a bare Node server), the adapter sets the
 * property itself.
 */

/** One accessor per process, shared by every loaded copy of the library. */
const shared = globalThis as Record<symbol, unknown>;
const ACCESSOR = Symbol.for('photodna-guard.express-result');
shared[ACCESSOR] ??= {
  configurable: true,
  enumerable: false,
  get(this: object) {
    return passedResult(this);
  },
  set(this: object, value: unknown) {
    Object.defineProperty(this, 'photodna', {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  },
} satisfies PropertyDescriptor;
const accessor = shared[ACCESSOR] as PropertyDescriptor;

/** Request prototypes known to reach the accessor. */
const served = new WeakSet<object>();

/**
 * Whether `req.photodna` reads the guard's result by itself on this request; puts the accessor on
 * Express's base request object the first time a prototype is seen.
 */
export function readsResult(req: object): boolean {
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === null) return false;
  if (served.has(proto)) return true;
  const base = frameworkBase(proto);
  if (!base) return false;
  const own = Object.getOwnPropertyDescriptor(base, 'photodna');
  if (!own) Object.defineProperty(base, 'photodna', accessor);
  else if (own.get !== accessor.get) return false; // the host's own: leave it alone
  served.add(proto);
  return true;
}

/** The object directly above Node's `IncomingMessage.prototype` in the chain, if not Node's own. */
function frameworkBase(proto: object): object | undefined {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const up = Object.getPrototypeOf(p) as object | null;
    if (up === IncomingMessage.prototype) return p;
    if (p === IncomingMessage.prototype) return undefined;
  }
  return undefined;
}
