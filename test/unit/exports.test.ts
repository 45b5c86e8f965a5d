import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Pins what every entry point exports, values and types: the root carries the documented API
 * only, so an internal helper can never leak into it unnoticed.
 */
const root = resolve(import.meta.dirname, '../..');

const ENTRIES = {
  '.': {
    file: 'src/index.ts',
    values: [
      'ATTEMPT_CHANNEL',
      'ERROR_CODES',
      'GuardError',
      'InvalidOptionsError',
      'PhotoDnaClient',
      'PhotoDnaServiceError',
      'QuarantineError',
      'REPORT_FIELD_LIMITS',
      'ReportFieldTooLongError',
      'createFileQuarantineStore',
      'isQuarantineStore',
      'photodnaGuard',
      'reportQuarantined',
    ],
    types: [
      'AttemptMessage',
      'BoundedReportField',
      'CallOptions',
      'ErrorCode',
      'ErrorEvent',
      'ExpressRequest',
      'FailMode',
      'FileFacts',
      'FileQuarantineStore',
      'FileQuarantineStoreOptions',
      'Guard',
      'GuardErrorOptions',
      'GuardEventMap',
      'GuardEventName',
      'GuardMethods',
      'GuardMiddleware',
      'GuardOptions',
      'ImageMimeType',
      'Incident',
      'Listener',
      'Logger',
      'MatchEvent',
      'MatchFlag',
      'MatchRequest',
      'MatchResponse',
      'MatchResult',
      'Matcher',
      'NcmecCredentials',
      'PdqFacts',
      'PhotoDnaClientOptions',
      'PhotoDnaHashInput',
      'PhotoDnaHasher',
      'PhotoDnaResult',
      'Policy',
      'PolicyFunction',
      'PolicyOption',
      'QuarantineEvent',
      'QuarantineRecord',
      'QuarantineStore',
      'RedisClientLike',
      'RejectEvent',
      'RejectionBody',
      'ReportBody',
      'ReportEvent',
      'ReportQuarantinedArgs',
      'ReportResult',
      'ReportSender',
      'ReportStatus',
      'ReportViolationContent',
      'ReporterInfo',
      'RequestStatus',
      'RouteGuard',
      'RouteOverrides',
      'ScanEvent',
      'ScanOutcome',
      'ScannedFile',
      'TooLongReportField',
      'UnavailableReason',
    ],
  },
  './koa': {
    file: 'src/koa.ts',
    values: ['photodnaGuard'],
    types: ['KoaContext', 'KoaGuard', 'KoaMiddleware', 'KoaRouteGuard'],
  },
  './fastify': {
    file: 'src/fastify.ts',
    values: ['photodnaGuard'],
    types: null, // the plugin's option and request types
  },
  './fetch': {
    file: 'src/fetch.ts',
    // Not `checker`: it takes the guard's internal core, which no user holds.
    values: ['CLIENT_GONE_STATUS', 'photodnaGuard'],
    types: [
      'CheckInfo',
      'CheckPassed',
      'CheckRejected',
      'CheckResult',
      'Checker',
      'FetchGuard',
      'FetchRouteGuard',
    ],
  },
  './hono': {
    file: 'src/hono.ts',
    values: ['photodnaGuard'],
    types: null, // Hono's Env / Variables types
  },
  './queue': {
    file: 'src/queue/index.ts',
    values: ['QueueRedisError', 'createScanWorker', 'incidentIdOf', 'openScanQueue'],
    types: null, // the queue's job and option types
  },
  './metrics': {
    file: 'src/metrics/index.ts',
    values: ['createGuardMetrics'],
    types: null, // the metrics option types
  },
  './emulator': {
    file: 'src/emulator.ts',
    values: ['DEFAULT_HASH_THRESHOLD', 'DEFAULT_RATE_LIMITS', 'startEmulator', 'testImages'],
    types: null, // the emulator's option and handle types; not pinned one by one
  },
  './pdq': {
    file: 'src/pdq.ts',
    values: [
      'DEFAULT_MAX_PIXELS',
      'DIHEDRAL_NAMES',
      'HashPool',
      'PdqDecodeError',
      'PdqIndex',
      'PdqListFormatError',
      'SharpMissingError',
      'createPdqMatcher',
      'defaultHashPool',
      'isPdqHex',
      'loadPdqList',
      'parsePdqList',
      'pdqDistance',
      'pdqHash',
      'pdqHashDihedral',
    ],
    types: null, // PDQ's types are not pinned one by one
  },
  './console': {
    file: 'src/console.ts',
    values: [
      'AUDIT_FILE',
      'GENESIS',
      'allowRecord',
      'auditState',
      'createAuditLog',
      'createConsole',
      'pdqOf',
      'purgeIncident',
      'releaseIncident',
      'reportIncident',
    ],
    types: null, // the moderators' console entry
  },
  './quarantine': {
    file: 'src/quarantine.ts',
    values: [
      'DEFAULT_PRESERVE_DAYS',
      'createFileQuarantineStore',
      'createRecord',
      'isQuarantineStore',
      'lastSuccessfulReport',
      'purgeDecision',
      'withReport',
    ],
    types: [
      'FileQuarantineStore',
      'FileQuarantineStoreOptions',
      'Incident',
      'PurgeDecision',
      'QuarantineRecord',
      'QuarantineStore',
      'ReportStatus',
    ],
  },
} as const;

const program = ts.createProgram(
  Object.values(ENTRIES).map((e) => resolve(root, e.file)),
  {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  },
);
const checker = program.getTypeChecker();

/** Names an entry exports only as types (interfaces, type aliases), per the compiler. */
function typeOnlyExports(file: string): string[] {
  const source = program.getSourceFile(resolve(root, file));
  const symbol = source && checker.getSymbolAtLocation(source);
  if (!symbol) throw new Error(`no module symbol for ${file}`);
  return checker
    .getExportsOfModule(symbol)
    .filter((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return !(target.flags & ts.SymbolFlags.Value);
    })
    .map((s) => s.name)
    .sort();
}

describe('the export list of every entry point', () => {
  it('package.json exports exactly these entry points', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default;
    expect(Object.keys(pkg.exports).sort()).toEqual(
      [...Object.keys(ENTRIES), './package.json'].sort(),
    );
  });

  for (const [entry, { file, values, types }] of Object.entries(ENTRIES)) {
    it(`${entry}: values`, async () => {
      const module = await import(resolve(root, file));
      expect(Object.keys(module).sort()).toEqual([...values].sort());
    });
    if (types) {
      it(`${entry}: types`, () => {
        expect(typeOnlyExports(file)).toEqual([...types].sort());
      });
    }
  }
});
