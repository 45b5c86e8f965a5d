/**
 * `guard.console(options)`: the console for the guard's own quarantine store, wired to the
 * guard's events (live panel), report sender and reporter details, and closed with the guard.
 */
import type { GuardCore } from '../core/guard-core.js';
import { InvalidOptionsError } from '../errors.js';
import { type Console, createConsole } from './create-console.js';
import type { ConsoleOptions } from './options.js';

/** What `guard.console()` takes: the console's options less what the guard already knows. */
export type GuardConsoleOptions = Omit<
  ConsoleOptions,
  'store' | 'dir' | 'preserveDays' | 'events' | 'sender' | 'apiKey' | 'baseUrl'
> & {
  /** Koa only: where the console is served. Defaults to `'/console'`. */
  path?: string;
};

export function consoleForGuard(core: GuardCore, options: GuardConsoleOptions): Console {
  const { store } = core;
  if (!store) {
    throw new InvalidOptionsError(
      "guard.console(): the guard has no quarantine store to review: set the 'quarantine' option",
      ['quarantine'],
    );
  }
  const { path: _path, ...rest } = options;
  const { reporter, logger } = core.config;
  const mounted = createConsole({
    ...(reporter === undefined ? {} : { reporter }),
    ...(logger === undefined ? {} : { logger }),
    ...(core.sender === undefined ? {} : { sender: core.sender }),
    ...rest,
    store,
    events: core.events,
  });
  core.onClose(() => mounted.close());
  return mounted;
}
