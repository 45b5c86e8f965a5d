import { clientIdentity } from './client/diagnostics.js';
import { PhotoDnaClient } from './client/index.js';
import { type CoreParts, GuardCore } from './core/guard-core.js';
import { sharpUnavailable } from './core/reencode.js';
import { InvalidOptionsError } from './errors.js';
import { buildMatcher } from './matchers/build.js';
import { type GuardConfig, type GuardOptions, parseGuardOptions } from './options.js';
import { loadSharp, sharpInstalled } from './pdq/load-sharp.js';
import { createFileQuarantineStore, type QuarantineDirWarning } from './quarantine/fs-store.js';
import type { QuarantineStore } from './quarantine/types.js';
import { reportConnectionErrors } from './queue/connection-errors.js';
import { LazyQueue } from './queue/lazy-queue.js';
import type { QueueOption } from './queue/open-queue.js';
import type { QueueEngine, ScanQueue } from './queue/types.js';
import type { ScanWorker } from './queue/worker.js';

/**
 * Builds one guard's core from its options: parses them (once), reads `PHOTODNA_API_KEY`, and
 * makes the back ends the core is handed — the matcher (`matchers/build.ts`: PhotoDNA, PDQ or
 * both, or a custom `matcher`), the file quarantine store, and the report sender. The only
 * place that knows them.
 */
export function wireGuard(options: GuardOptions | undefined): GuardCore {
  const config = parseGuardOptions(options);
  const apiKey = config.apiKey ?? envApiKey();
  // A custom matcher, PhotoDNA (Match, or MatchHash with a hasher), PDQ, or PDQ with either.
  // A PDQ list (re)loaded may answer differently for bytes already cached: the cache forgets.
  // (A list given in code loads before the core exists, with nothing cached yet.)
  let listsLoaded: (() => void) | undefined;
  const { matcher, client, checked } = buildMatcher(
    config,
    apiKey,
    () => createClient(config),
    () => listsLoaded?.(),
  );
  let reportClient: PhotoDnaClient | undefined;
  const queue = createQueue(config.queue);
  let worker: Promise<ScanWorker | undefined> | undefined;
  // A directory that was not private is told through the guard's warnings (first use only).
  const store = createStore(config.quarantine, (message) =>
    core.events.warnings.warn('PHOTODNA_GUARD_QUARANTINE_DIR', message),
  );
  // A custom matcher still reports through PhotoDNA when a key is configured: made on first use.
  const sender = apiKey
    ? () => {
        if (!reportClient) {
          reportClient = client ?? createClient(config);
          core.scope.claim(clientIdentity(reportClient));
        }
        return reportClient;
      }
    : undefined;
  const core: GuardCore = new GuardCore({
    config,
    matcher,
    // Answers already checked (the PhotoDNA client's, a join with PDQ) are not checked again.
    trustedMatcher: checked,
    store,
    sender,
    queue,
    limiter: client,
    close: async () => {
      await (await worker)?.close();
      if (queue instanceof LazyQueue) await queue.close();
      if (reportClient !== client) await reportClient?.close();
    },
  });
  listsLoaded = () => core.forgetResults();
  // The clients it made are its own: its metrics count their attempts, no other guard's do.
  if (client) core.scope.claim(clientIdentity(client));
  if (config.sanitize === 'reencode') preloadSharp(core);
  if (config.pdq && !sharpInstalled())
    core.events.warnings.warn('PHOTODNA_GUARD_NOT_CONFIGURED', PDQ_SHARP);
  if (queue && runsWorker(config)) {
    // `url` jobs go to PhotoDNA's Match-by-URL form only when PhotoDNA alone is the matcher.
    const byUrl = client && !config.pdq && !config.hasher ? client : undefined;
    worker = startWorker(core, config, queue, { store, sender, byUrl });
  } else if (queue instanceof LazyQueue) reportConnection(core, queue);
  return core;
}

/**
 * `PHOTODNA_API_KEY`, read when the `apiKey` option is left out. Set but blank (an empty
 * `PHOTODNA_API_KEY=`, a key file's lone newline) it is refused here, as a blank `apiKey` is, and
 * in the guard's words: let through, it made a PhotoDNA client that refused it on first use (a
 * custom matcher's report sender failed as the first match was reported).
 */
function envApiKey(): string | undefined {
  const value = process.env.PHOTODNA_API_KEY;
  if (value === undefined) return undefined;
  const key = value.trim();
  if (key === '') {
    throw new InvalidOptionsError(
      "photodnaGuard: option 'apiKey': left out, and PHOTODNA_API_KEY is empty or only whitespace: give your PhotoDNA subscription key in apiKey or PHOTODNA_API_KEY (or unset PHOTODNA_API_KEY when a custom 'matcher' or PDQ alone needs no key)",
      ['apiKey'],
    );
  }
  return key;
}

/**
 * A guard that only enqueues (its workers run elsewhere) says when its queue's Redis fails, as a
 * worker does: an `error` event (stage `queue`) at most every 30 s while it lasts.
 */
function reportConnection(core: GuardCore, queue: LazyQueue): void {
  queue.opened.then(
    (engine) => reportConnectionErrors(engine, core.events),
    () => undefined, // said by the first enqueue that needs it
  );
}

/**
 * PDQ without sharp still hashes BMP (its own decoder) and fails closed on every other image
 * (503, naming sharp): said when the guard is made, not first at an upload.
 */
const PDQ_SHARP =
  'pdq needs sharp, an optional peer dependency that is not installed, to decode JPEG, PNG, GIF and TIFF: npm install sharp. Until then such uploads are refused 503 SCAN_UNAVAILABLE (only BMP is hashed)';

/**
 * `sanitize: 'reencode'` needs sharp: the options found it installed, and it is loaded now, so
 * that one that cannot load (a missing native binary) is said at once, as a setup fault, and
 * the first upload does not wait for the import.
 */
function preloadSharp(core: GuardCore): void {
  loadSharp().catch((error: unknown) => {
    core.events.emit('error', {
      error: new Error(sharpUnavailable(error), { cause: error }),
      stage: 'scan',
      reason: 'not-configured',
    });
  });
}

function createQueue(option: GuardConfig['queue']): ScanQueue | undefined {
  if (!option) return undefined;
  if ('enqueue' in option) return option;
  // The schema's refinement let through exactly one of `dir` / `redis`.
  return new LazyQueue(option as QueueOption);
}

/** The embedded queue serves one process, so its worker runs here unless told otherwise. */
function runsWorker(config: GuardConfig): boolean {
  const option = config.queueWorker;
  if (option !== undefined) return option !== false;
  return config.queue !== undefined && 'dir' in config.queue && config.queue.dir !== undefined;
}

/** The guard's own worker: its matcher (and rate limit), store, events, reporter and `onMatch`. */
async function startWorker(
  core: GuardCore,
  config: GuardConfig,
  queue: ScanQueue,
  parts: Pick<CoreParts, 'store' | 'sender'> & { byUrl: PhotoDnaClient | undefined },
): Promise<ScanWorker | undefined> {
  const { byUrl } = parts;
  try {
    const engine = queue instanceof LazyQueue ? await queue.opened : (queue as QueueEngine);
    if (typeof engine.consume !== 'function') {
      throw new TypeError('queueWorker: the given queue cannot be consumed (no consume method)');
    }
    const { createScanWorker } = await import('./queue/worker.js');
    return await createScanWorker({
      queue: engine,
      matcher: core.deferredMatcher(),
      ...(byUrl ? { matchUrl: (url, { signal }) => byUrl.matchUrl(url, { signal }) } : {}),
      events: core.events,
      ...(parts.store ? { quarantine: parts.store } : {}),
      ...(parts.sender ? { sender: parts.sender } : {}),
      ...(config.reporter ? { reporter: config.reporter } : {}),
      ...(config.onMatch ? { onMatch: config.onMatch } : {}),
      limits: config.limits,
      scanTimeoutMs: Math.max(config.scanTimeoutMs, 60_000),
      hookTimeoutMs: config.hookTimeoutMs,
      ...(typeof config.queueWorker === 'object'
        ? { concurrency: config.queueWorker.concurrency }
        : {}),
    });
  } catch (error) {
    core.events.emit('error', {
      error: new Error(`the deferred scan worker could not start: ${(error as Error).message}`, {
        cause: error,
      }),
      stage: 'scan',
      reason: 'not-configured',
    });
    return undefined;
  }
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

function createStore(
  option: GuardConfig['quarantine'],
  warn: QuarantineDirWarning,
): QuarantineStore | undefined {
  if (!option) return undefined;
  if ('dir' in option && typeof option.dir === 'string' && !('put' in option)) {
    return createFileQuarantineStore({ dir: option.dir, preserveDays: option.preserveDays }, warn);
  }
  return option as QuarantineStore;
}
