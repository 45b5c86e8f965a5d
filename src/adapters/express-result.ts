import { IncomingMessage } from 'node:http';
import { processWide } from '../core/process-wide.js';
import { passedResult } from '../core/recheck.js';

/**
 * `req.photodna` on Express without adding a property to each request. Express sets every
 * request's prototype, so each request gets a V8 map of its own, and a property added after that
 * builds another map and copies its descriptors (about 1.3 KiB of garbage and 1% of a 50 KiB
 * upload's service time: bench/README.md). Instead, one accessor on the object directly above
 * Node's `IncomingMessage.prototype` in the request's prototype chain (Express's base request,
 * `express.request`, which every app's `request` inherits from, a mounted app's too; or a host's
 * own `IncomingMessage` subclass) reads the result the guard records for the request anyway
 * (`passedResult`). Node's own prototypes are never changed.
 *
 * `showResult` checks the one read that matters: where anything else would answer (a value put
 * on the request before the guard, a host's `app.request.photodna`, an accessor removed), the
 * result is set as an own property, as on a plain Node server, where there is no such object.
 * Not covered: an Express app of a second copy of Express, called as a plain handler (vhost)
 * rather than mounted with `app.use`, sets a prototype chain the guard never saw.
 */

/** One accessor per process, shared by every loaded copy of the library. */
const accessor = processWide(
  'photodna-guard.express-result',
  (): PropertyDescriptor => ({
    configurable: true,
    enumerable: false,
    get(this: object) {
      return passedResult(this);
    },
    set(this: object, value: unknown) {
      setOwn(this, value);
    },
  }),
);

/** Request prototypes already looked at. */
const seen = new WeakSet<object>();

/**
 * Puts the accessor above the request's framework prototype the first time that prototype is
 * seen (when nothing of that name is there already).
 */
export function installResultAccessor(req: object): void {
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === null || seen.has(proto)) return;
  seen.add(proto);
  const base = frameworkBase(proto);
  if (base && !Object.hasOwn(base, 'photodna')) Object.defineProperty(base, 'photodna', accessor);
}

/**
 * Makes `req.photodna` read `result`: nothing is written when the accessor already answers it;
 * otherwise an own property shadows whatever would. Throws where the request holds a read-only
 * `photodna` of its own.
 */
export function showResult(req: object, result: unknown): void {
  if ((req as { photodna?: unknown }).photodna !== result) setOwn(req, result);
}

function setOwn(req: object, value: unknown): void {
  Object.defineProperty(req, 'photodna', {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/** The object directly above Node's `IncomingMessage.prototype` in the chain, if not Node's own. */
function frameworkBase(proto: object): object | undefined {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (p === IncomingMessage.prototype) return undefined;
    if (Object.getPrototypeOf(p) === IncomingMessage.prototype) return p;
  }
  return undefined;
}
