import type { PhotoDnaClient } from '../client/client.js';
import { InvalidOptionsError } from '../errors.js';
import type { GuardConfig } from '../options.js';
import { createPdqMatcher } from '../pdq/matcher.js';
import type { Logger, Matcher } from '../types.js';
import { composeMatchers, labelled } from './compose.js';
import { photoDnaHashMatcher } from './photodna-hashes.js';

/** The guard's matcher and the PhotoDNA client behind it (absent when PhotoDNA is not used). */
export interface BuiltMatcher {
  matcher: Matcher;
  client: PhotoDnaClient | undefined;
  /**
   * Every answer is a checked MatchResult already: the PhotoDNA client's (parsed with zod), and
   * any joined with PDQ (each back end's answer checked before the join). A custom matcher's or
   * a hasher's answers are checked by the guard.
   */
  checked: boolean;
}

/**
 * Picks the guard's back ends from its options. The primary one is a custom `matcher`, else
 * PhotoDNA (one Match per file, or MatchHash batches of the host's `hasher`); `pdq` joins it
 * (`mode: 'both' | 'fallback'`) or replaces it (`mode: 'only'`, no key needed). Throws when a
 * back end that the options ask for cannot be built.
 */
export function buildMatcher(
  config: GuardConfig,
  apiKey: string | undefined,
  createClient: () => PhotoDnaClient,
  onListsLoaded: () => void = () => {},
): BuiltMatcher {
  const pdqOption = config.pdq;
  const mode = pdqOption?.mode ?? (config.matcher || apiKey ? 'both' : 'only');
  if (pdqOption && mode === 'only') {
    const pdq = createPdqMatcher(pdqSettings(pdqOption, config.logger, onListsLoaded));
    return { matcher: labelled(pdq, 'pdq'), client: undefined, checked: true };
  }
  const join = (primary: Matcher, primaryIsPhotoDna: boolean): Matcher =>
    pdqOption && mode !== 'only'
      ? composeMatchers(
          primary,
          createPdqMatcher(pdqSettings(pdqOption, config.logger, onListsLoaded)),
          {
            mode,
            primaryIsPhotoDna,
          },
        )
      : primary;

  const checked = pdqOption !== undefined;
  if (config.matcher) return { matcher: join(config.matcher, false), client: undefined, checked };
  if (!apiKey) {
    throw new InvalidOptionsError(
      pdqOption
        ? `photodnaGuard: option 'apiKey': required by pdq.mode '${mode}' (PhotoDNA and PDQ); use pdq.mode 'only' for PDQ alone (or set PHOTODNA_API_KEY)`
        : "photodnaGuard: option 'apiKey': required unless 'pdq' or a custom 'matcher' is given (or set PHOTODNA_API_KEY)",
      ['apiKey'],
    );
  }
  const client = createClient();
  const photodna = config.hasher
    ? photoDnaHashMatcher(client, config.hasher, { windowMs: config.batchWindowMs })
    : client.asMatcher();
  return { matcher: join(photodna, true), client, checked: checked || !config.hasher };
}

/**
 * The `pdq` option as `createPdqMatcher` options: without `mode`, with the guard's logger, and
 * telling the guard of every list (re)load (its cached results may no longer hold).
 */
function pdqSettings(
  option: NonNullable<GuardConfig['pdq']>,
  logger: Logger | undefined,
  onListsLoaded: () => void,
): Parameters<typeof createPdqMatcher>[0] {
  const { mode: _mode, onReload, ...settings } = option;
  return {
    ...settings,
    ...(logger && !settings.logger ? { logger } : {}),
    onReload: (info) => {
      onListsLoaded();
      onReload?.(info);
    },
  };
}
