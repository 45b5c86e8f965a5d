import { GuardError } from '../errors.js';
import { fieldEntries } from '../multipart/field-entries.js';
import { filesIn, type MulterFile, reshape, withholdFiles } from '../multipart/selection.js';
import { selectionError } from '../multipart/selection-rules.js';
import type { RouteConfig } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import type { Entry } from './entry.js';
import { findFieldImagesYielding } from './field-images.js';
import { type MatchedFile, storeMatches } from './handle-matches.js';
import { type Outcome, PASS_THROUGH } from './outcome.js';
import { boundedPolicy } from './policy.js';
import { processWide } from './process-wide.js';
import { RequestContext } from './request-context.js';
import { type BodyStream, type RequestView, textFieldsOf } from './request-view.js';
import { respondRejected } from './respond-rejected.js';
import type { ScanDeps } from './scan-request.js';

/**
 * No silent downgrade (issue 10): a route guard behind a guard that already scanned the request
 * (`app.use(guard)` then `guard.route({...}).single(...)`) keeps its meaning. It re-checks the
 * scanned files against its own field rules, stricter limits, policy and fail mode, and answers
 * as it would alone; what it cannot honour (a weaker policy: the first guard has already
 * rejected such a match) is said once, with the fix.
 */

/** What the first guard decided on a request it passed. */
interface FirstDecision {
  route: RouteConfig;
  photodna: PhotoDnaResult;
  /**
   * Matches it let through under 'flag' (withheld from the handler, already announced), kept
   * with the request for a stricter route behind it to quarantine. Absent in a record of
   * another loaded copy of the library.
   */
  flagged?: readonly MatchedFile[];
}

/**
 * First decisions by request body. Kept off the request object (a property added to every
 * request after multer's cost a V8 map transition and showed as ~10 µs per request in profiles),
 * in one map per process that every loaded copy of the library shares.
 */
const decisions = processWide(
  'photodna-guard.decisions',
  () => new WeakMap<object, FirstDecision>(),
);

/**
 * Notes the route config and result the first guard passed the request with, once its files are
 * what was checked (Express's `req.photodna` reads this record).
 */
export function recordDecision(
  body: BodyStream | undefined,
  route: RouteConfig,
  photodna: PhotoDnaResult,
  flagged: readonly MatchedFile[],
): void {
  if (body) decisions.set(body, { route, photodna, flagged });
}

/** The result a guard passed this request with, if one did (Express's `req.photodna` reads it). */
export function passedResult(body: object): PhotoDnaResult | undefined {
  return decisions.get(body)?.photodna;
}

export async function recheck(deps: ScanDeps, entry: Entry, view: RequestView): Promise<Outcome> {
  const body = view.body;
  if (!body) return PASS_THROUGH;
  const first = decisions.get(body);
  // Where the first guard found them: a parser ahead of both (`@koa/multer`) left them on `ctx`.
  const places = [...new Set([body, ...view.targets])];
  const files = filesIn(places);
  let error = entry.parser ? selectionError(files, entry.selection) : undefined;
  if (first && first.route !== entry.route) {
    shadowed(deps, entry.route, first.route);
    // The policy first: a match this route quarantines is stored whatever else refuses the request.
    const policy = await policyError(deps, entry.route, first, view);
    error ??= limitsError(body, files, first.photodna, entry.route);
    error ??= await imageFieldsError(view, entry);
    error ??= policy;
  }
  if (!error) {
    if (entry.parser) reshape(places, files, entry.selection);
    return PASS_THROUGH;
  }
  const all = new Set<MulterFile>(files);
  for (const place of places) withholdFiles(place, all);
  const ctx = new RequestContext(view);
  return respondRejected(deps.events, entry.route, ctx, error);
}

/** The route's own limits, on what the first guard parsed and measured. */
function limitsError(
  body: BodyStream,
  files: readonly MulterFile[],
  photodna: PhotoDnaResult | undefined,
  route: RouteConfig,
): GuardError | undefined {
  const { limits } = route;
  const exceeded = (detail: string) => new GuardError('LIMIT_EXCEEDED', { detail });
  if (files.length > limits.maxFiles)
    return exceeded(`${files.length} files, limit ${limits.maxFiles}`);
  const big = files.find((f) => f.size > limits.maxFileSize);
  if (big) {
    return new GuardError('FILE_TOO_LARGE', {
      detail: `${big.size} bytes, this route's limit ${limits.maxFileSize}`,
    });
  }
  for (const file of photodna?.files ?? []) {
    if (file.width < limits.minWidth || file.height < limits.minHeight) {
      return new GuardError('IMAGE_TOO_SMALL', {
        detail: `${file.width}x${file.height}, this route's minimum ${limits.minWidth}x${limits.minHeight}`,
      });
    }
    if (file.width * file.height > limits.maxPixels) {
      return new GuardError('IMAGE_TOO_LARGE', {
        detail: `${file.width}x${file.height}, this route's limit ${limits.maxPixels} pixels`,
      });
    }
  }
  const fields = [...fieldEntries(body.body ?? {})];
  if (fields.length > limits.maxFields)
    return exceeded(`${fields.length} fields, limit ${limits.maxFields}`);
  if (fields.length + files.length > limits.maxParts)
    return exceeded('too many parts for this route');
  for (const [name = '', value = ''] of fields) {
    if (Buffer.byteLength(name) > limits.maxFieldNameSize) return exceeded('a field name too long');
    if (Buffer.byteLength(value) > limits.maxFieldSize) return exceeded(`field '${name}' too long`);
  }
  return undefined;
}

/**
 * This route's `imageFields: 'reject'`, on the text fields the first guard checked and left: an
 * image in one is refused here as it would be had this route parsed the request.
 */
async function imageFieldsError(view: RequestView, entry: Entry): Promise<GuardError | undefined> {
  if (entry.route.imageFields !== 'reject') return undefined;
  const [image] = await findFieldImagesYielding(textFieldsOf(view), entry.fieldValueBudget);
  if (!image) return undefined;
  return new GuardError('UNSUPPORTED_MEDIA_TYPE', {
    detail: `an image in the text field '${image.path}' (imageFields: 'reject')`,
  });
}

/**
 * A match the first guard let through as flagged (quarantined first when this route's policy
 * says so), or a file it let through unchecked.
 */
async function policyError(
  deps: ScanDeps,
  route: RouteConfig,
  first: FirstDecision,
  view: RequestView,
): Promise<GuardError | undefined> {
  const { status } = first.photodna;
  if (status === 'match') {
    const ctx = new RequestContext(view);
    const policy = await boundedPolicy(deps.events, route, ctx);
    if (policy === 'quarantine' && first.flagged?.length) {
      // Durable before the answer, like any quarantine; a failed write answers 503.
      const failure = await storeMatches(deps, ctx, route, first.flagged);
      if (failure) return failure;
    }
    if (policy !== 'flag') {
      return new GuardError('UPLOAD_REJECTED', {
        detail: `matched; flagged by the first guard, this route's policy is '${policy}'`,
      });
    }
  }
  if (status === 'unchecked' && route.failMode === 'closed') {
    return new GuardError('SCAN_UNAVAILABLE', {
      reason: 'not-configured',
      detail: "let through unchecked by the first guard (failMode 'open'); this route is 'closed'",
    });
  }
  return undefined;
}

const SANITIZE_RANK: Readonly<Record<RouteConfig['sanitize'], number>> = {
  none: 0,
  metadata: 1,
  reencode: 2,
};

/**
 * How the first guard came to run before a route's: worded for every adapter (the fetch adapter
 * has no `app.use`, its global guard is a `guard.check(request)` called before the route's).
 */
const IN_FRONT =
  "(app.use(guard), or with the fetch adapter guard.check(request) before the route's guard.route(...).check(request))";
const OR_NOT_IN_FRONT =
  'or do not run the global guard in front of this route (app.use(guard); fetch adapter: guard.check(request))';

/** A route setting the first guard decides before this route can: said once, with the fix. */
function shadowed(deps: ScanDeps, route: RouteConfig, first: RouteConfig): void {
  if (SANITIZE_RANK[route.sanitize] > SANITIZE_RANK[first.sanitize]) {
    deps.events.warnings.warn(
      'PHOTODNA_GUARD_ROUTE_SHADOWED',
      `guard.route({ sanitize: '${route.sanitize}' }) runs behind a guard that already checked and handed on the files ${IN_FRONT} with sanitize '${first.sanitize}': this route's files are not sanitized again. Set sanitize on the global guard, ${OR_NOT_IN_FRONT}.`,
      'PHOTODNA_GUARD_ROUTE_SHADOWED:sanitize',
    );
  }
  if (route.trailingData === 'reject' && first.trailingData !== 'reject') {
    deps.events.warnings.warn(
      'PHOTODNA_GUARD_ROUTE_SHADOWED',
      `guard.route({ trailingData: 'reject' }) runs behind a guard that already checked and handed on the files ${IN_FRONT} with trailingData '${first.trailingData}': a file with data after its image reaches this route ${first.trailingData === 'strip' ? 'cut to the image' : 'whole, as checked'}, not refused. Set trailingData on the global guard, ${OR_NOT_IN_FRONT}.`,
      'PHOTODNA_GUARD_ROUTE_SHADOWED:trailingData',
    );
  }
  const policy = route.policy !== first.policy && route.policy !== 'block';
  const failMode = route.failMode === 'open' && first.failMode === 'closed';
  if (!policy && !failMode) return;
  const what = policy ? `policy ${JSON.stringify(route.policy)}` : "failMode 'open'";
  deps.events.warnings.warn(
    'PHOTODNA_GUARD_ROUTE_SHADOWED',
    `guard.route({ ${policy ? 'policy' : 'failMode'} }) runs behind a guard that already checked the request ${IN_FRONT}, which decides first with its own settings: this route's ${what} can only make it stricter (a match the first guard rejects never reaches this route). Give routes their own policy in the global guard instead, with path rules: photodnaGuard({ policy: [{ path: '/chat', policy: 'flag' }] }), ${OR_NOT_IN_FRONT}.`,
  );
}
