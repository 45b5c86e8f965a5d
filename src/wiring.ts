import { PhotoDnaClient } from './client/index.js';
import { GuardCore } from './core/guard-core.js';
import { InvalidOptionsError } from './errors.js';
import { type GuardConfig, type GuardOptions, parseGuardOptions } from './options.js';
import { createFileQuarantineStore } from './quarantine/fs-store.js';
import type { QuarantineStore } from './quarantine/types.js';

/**
 * Builds one guard's core from its options: parses them (once), reads `PHOTODNA_API_KEY`, and
 * makes the back ends the core is handed — the PhotoDNA client (unless a custom `matcher` is
 * given), the file quarantine store, and the report sender. The only place that knows them.
 */
export function wireGuard(options: GuardOptions | undefined): GuardCore {
  const config = parseGuardOptions(options);
  const apiKey = config.apiKey ?? process.env.PHOTODNA_API_KEY;
  if (!config.matcher && !apiKey) {
    throw new InvalidOptionsError(
      "photodnaGuard: option 'apiKey': required unless a custom 'matcher' is given (or set PHOTODNA_API_KEY)",
      ['apiKey'],
    );
  }
  const client = config.matcher ? undefined : createClient(config);
  let reportClient: PhotoDnaClient | undefined;
  return new GuardCore({
    config,
    matcher: config.matcher ?? (client as PhotoDnaClient).asMatcher(),
    trustedMatcher: client !== undefined,
    store: createStore(config.quarantine),
    // A custom matcher still reports through PhotoDNA when a key is configured: made on first use.
    sender: apiKey
      ? () => {
          reportClient ??= client ?? createClient(config);
          return reportClient;
        }
      : undefined,
    close: async () => {
      if (reportClient !== client) await reportClient?.close();
    },
  });
}

function createClient(config: GuardConfig): PhotoDnaClient {
  return new PhotoDnaClient({
    ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
    ...(config.baseUrl === undefined ? {} : { baseUrl: config.baseUrl }),
    apiVersion: config.apiVersion,
    enhance: config.enhance,
    ...(config.evaluation === undefined ? {} : { evaluation: config.evaluation }),
    rateLimit: config.rateLimit,
    ...config.client,
    ...(config.logger === undefined ? {} : { logger: config.logger }),
  });
}

function createStore(option: GuardConfig['quarantine']): QuarantineStore | undefined {
  if (!option) return undefined;
  if ('dir' in option && typeof option.dir === 'string' && !('put' in option)) {
    return createFileQuarantineStore({
      dir: option.dir,
      preserveDays: option.preserveDays,
    });
  }
  return option as QuarantineStore;
}
