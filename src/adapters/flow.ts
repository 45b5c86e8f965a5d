import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GuardCore } from '../core/guard-core.js';
import { type RejectionResponse, rejectionResponse } from '../core/rejection.js';
import type { RequestContext } from '../core/request-context.js';
import type { Verdict } from '../core/verdict.js';
import { GuardError, toError, underlyingError } from '../errors.js';
import { isMultipart, multerWillParse } from '../multipart/is-multipart.js';
import { type MultipartParser, UploadAborted } from '../multipart/parser.js';
import {
  filesOf,
  type MulterFile,
  type MulterTarget,
  reshape,
  type Selection,
  withholdFiles,
} from '../multipart/selection.js';
import type { RouteConfig } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { readUpload, SCANNED, uploadOf } from './uploaded-files.js';

/** The raw request as the flow sees it: Node's request plus where multer puts its results. */
export type FlowRequest = IncomingMessage & MulterTarget & { body?: unknown; [SCANNED]?: true };

/** What an adapter tells the framework-free flow about one request. */
export interface Exchange {
  req: FlowRequest;
  res: ServerResponse;
  /** Where multer left files, first the one to read (Express: `req`; Koa: `ctx`, `ctx.request`). */
  targets: MulterTarget[];
  path: string;
  ip: string;
  raw: unknown;
  respond(response: RejectionResponse): void;
}

/** `next`: hand on to the route (with `photodna` when scanned); `done`: answered or abandoned. */
export type FlowResult = { next: true; photodna?: PhotoDnaResult } | { next: false };

const DONE: FlowResult = { next: false };

/** Parses the multipart body like multer, then scans every file. */
export async function uploadFlow(
  core: GuardCore,
  route: RouteConfig,
  parser: MultipartParser,
  selection: Selection,
  ex: Exchange,
): Promise<FlowResult> {
  const { req } = ex;
  if (req[SCANNED]) {
    reshape(req, selection);
    return { next: true };
  }
  if (!isMultipart(req)) return { next: true };
  req[SCANNED] = true;
  const ctx = contextOf(ex);
  if (!multerWillParse(req)) return answer(core, ex, route, core.rejected(ctx, unreadableBody()));
  try {
    await parser.parse(req, ex.res, selection);
  } catch (error) {
    if (error instanceof UploadAborted) return DONE;
    if (!(error instanceof GuardError)) throw error;
    return answer(core, ex, route, core.rejected(ctx, error));
  }
  const files = filesOf(req);
  return settle(core, route, ex, await core.scan(ctx, files.map(uploadOf), route), files);
}

/** Checks the files the host's own multer left (memory `buffer` or disk `path`). */
export async function scanFlow(
  core: GuardCore,
  route: RouteConfig,
  ex: Exchange,
): Promise<FlowResult> {
  if (ex.req[SCANNED]) return { next: true };
  const files = filesOf(ex.targets.find((t) => filesOf(t).length > 0) ?? ex.req);
  if (files.length === 0 && !isMultipart(ex.req)) return { next: true };
  ex.req[SCANNED] = true;
  const ctx = contextOf(ex);
  let verdict: Verdict;
  try {
    if (files.length === 0) {
      const problem = unscannedBody(ex.req);
      if (problem) {
        if (problem.code === 'SCAN_UNAVAILABLE') {
          core.events.emit('error', {
            error: underlyingError(problem),
            stage: 'scan',
            reason: 'not-configured',
            route: ctx.route,
          });
        }
        return answer(core, ex, route, core.rejected(ctx, problem));
      }
    }
    const uploads = await Promise.all(
      files.map((file) => readUpload(file, route.limits.maxFileSize)),
    );
    verdict = await core.scan(ctx, uploads, route);
  } catch (error) {
    if (!(error instanceof GuardError)) {
      await removeFromDisk(core, files);
      throw error;
    }
    verdict = core.rejected(ctx, error);
  }
  return settle(core, route, ex, verdict, files);
}

function unreadableBody(): GuardError {
  return new GuardError('MALFORMED_MULTIPART', {
    detail: 'a multipart Content-Type the parser will not read (malformed parameters or no body)',
  });
}

/**
 * Why a multipart request reaching `scan()` with no files cannot pass: its body is malformed, or
 * nobody parsed it yet (`scan()` placed before multer), so files could still be read later.
 */
function unscannedBody(req: FlowRequest): GuardError | undefined {
  if (!multerWillParse(req)) return unreadableBody();
  if (req.readableEnded) return undefined;
  return new GuardError('SCAN_UNAVAILABLE', {
    reason: 'not-configured',
    detail: 'guard.scan() ran before the multipart body was parsed: place it after multer',
  });
}

async function settle(
  core: GuardCore,
  route: RouteConfig,
  ex: Exchange,
  verdict: Verdict,
  files: MulterFile[],
): Promise<FlowResult> {
  if (verdict.kind !== 'pass') {
    // Every file of a rejected request is dropped: from disk, and from the request itself.
    const all = new Set(files);
    for (const target of new Set([ex.req, ...ex.targets])) withholdFiles(target, all);
    await removeFromDisk(core, files);
    return answer(core, ex, route, verdict);
  }
  // Matched files under 'flag' are withheld: the handler learns of them from `photodna` only.
  const withheld = new Set(verdict.withheld.map((i) => files[i] as MulterFile));
  for (const target of new Set([ex.req, ...ex.targets])) withholdFiles(target, withheld);
  await removeFromDisk(core, [...withheld]);
  return { next: true, photodna: verdict.photodna };
}

function answer(core: GuardCore, ex: Exchange, route: RouteConfig, verdict: Verdict): FlowResult {
  if (verdict.kind === 'reject' && !ex.res.headersSent && !ex.res.destroyed) {
    ex.respond(
      rejectionResponse(verdict.error, route, (error) =>
        core.events.emit('error', { error, stage: 'hook', route: ex.path }),
      ),
    );
  }
  return DONE;
}

/** Files of a rejected request (or withheld matches) never stay on disk. */
async function removeFromDisk(core: GuardCore, files: MulterFile[]): Promise<void> {
  await Promise.all(
    files.map(async (file) => {
      if (!file.path) return;
      await rm(file.path, { force: true }).catch((error: unknown) => {
        const err = toError(error);
        core.events.emit('error', { error: err, stage: 'cleanup' });
      });
    }),
  );
}

function contextOf(ex: Exchange): RequestContext {
  const controller = new AbortController();
  ex.res.once('close', () => {
    if (!ex.res.writableEnded) controller.abort(new UploadAborted());
  });
  const userAgent = ex.req.headers['user-agent'];
  return {
    route: ex.path,
    method: ex.req.method ?? 'POST',
    ip: ex.ip,
    ...(userAgent === undefined ? {} : { userAgent }),
    receivedAt: new Date(),
    signal: controller.signal,
    raw: ex.raw,
  };
}
