import { processWide } from './process-wide.js';

/**
 * Which messages of the process-wide diagnostics channels (`photodna-guard:upload-ended`,
 * `photodna-guard:attempt`) belong to one guard (with its own deferred-scan worker) or one scan
 * worker: its metrics count those and no other guard's. Keyed by its `GuardEvents`, which the
 * guard and its worker share.
 */
export class DiagnosticsScope {
  /** What its `upload-ended` messages carry as `guard`: opaque, compared by reference. */
  readonly identity: object = Object.freeze({});

  /** The client (`clientIdentity(client)`) is this scope's own: no other scope counts its attempts. */
  claim(clientIdentity: object): void {
    owners.set(clientIdentity, this);
  }

  /**
   * Whether an attempt of that client is counted here: one of this scope's own clients, or one
   * that no guard or worker made (the app's own `PhotoDnaClient`, e.g. a `matcher:
   * client.asMatcher()` shared by two guards on purpose: each of them counts its attempts).
   */
  counts(clientIdentity: object): boolean {
    const owner = owners.get(clientIdentity);
    return owner === undefined || owner === this;
  }
}

// Process-wide, as the channels are: a client, guard or metrics of another loaded copy of the
// library (ESM and CommonJS) is told apart all the same.
const owners = processWide(
  'photodna-guard.diagnostics-client-owners',
  () => new WeakMap<object, DiagnosticsScope>(),
);
const scopes = processWide(
  'photodna-guard.diagnostics-scopes',
  () => new WeakMap<object, DiagnosticsScope>(),
);

/** The scope of the guard or worker that emits on `events` (made on first ask). */
export function scopeOf(events: object): DiagnosticsScope {
  let scope = scopes.get(events);
  if (!scope) {
    scope = new DiagnosticsScope();
    scopes.set(events, scope);
  }
  return scope;
}

/** `holder` (a guard's handle, a worker) stands for the scope of `events` in `findScope`. */
export function shareScope(holder: object, events: object): void {
  scopes.set(holder, scopeOf(events));
}

/** The scope of a metrics source (a guard, a worker, or their events); none for another emitter. */
export function findScope(source: object): DiagnosticsScope | undefined {
  return scopes.get(source);
}
