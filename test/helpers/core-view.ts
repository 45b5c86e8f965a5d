import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Entry } from '../../src/core/entry.js';
import { GuardCore } from '../../src/core/guard-core.js';
import type { BodyStream, RequestView } from '../../src/core/request-view.js';
import type { GuardEventName } from '../../src/events.js';
import type { GuardOptions } from '../../src/index.js';
import { MultipartParser } from '../../src/multipart/parser.js';
import type { MulterTarget, Selection } from '../../src/multipart/selection.js';
import { parseGuardOptions } from '../../src/options.js';
import type { Matcher } from '../../src/types.js';
import { multipartBody } from './raw-upload.js';

const BOUNDARY = 'core-test-boundary';

/**
 * A request as the core sees it, with no HTTP anywhere: a real multipart payload in a body
 * stream, and a record of what the core asked of the view.
 */
export class TestView implements RequestView {
  readonly method = 'POST';
  readonly headers: IncomingHttpHeaders;
  readonly body: BodyStream;
  readonly targets: readonly MulterTarget[];
  readonly raw = { framework: 'none' };
  taken = false;
  /** How often the core asked to be told when the uploader leaves (the lazy abort signal). */
  watchCalls = 0;
  #onGone: (() => void) | undefined;

  constructor(payload: Buffer, contentType: string | undefined, targets?: MulterTarget[]) {
    this.headers = {
      'content-length': String(payload.length),
      ...(contentType === undefined ? {} : { 'content-type': contentType }),
    };
    this.body = Object.assign(Readable.from([payload], { objectMode: false }), {
      headers: this.headers,
    }) as BodyStream;
    this.targets = targets ?? [this.body];
  }

  static upload(
    parts: Array<{ name: string; filename?: string; type?: string; data: Buffer | string }>,
  ): TestView {
    return new TestView(
      multipartBody(BOUNDARY, parts),
      `multipart/form-data; boundary=${BOUNDARY}`,
    );
  }

  path(): string {
    return '/upload';
  }

  ip(): string {
    return '192.0.2.7';
  }

  isTaken(): boolean {
    return this.taken;
  }

  take(): void {
    this.taken = true;
  }

  watchGone(onGone: () => void): boolean {
    this.watchCalls += 1;
    this.#onGone = onGone;
    return false;
  }

  /** The uploader leaves. */
  leave(): void {
    this.#onGone?.();
  }
}

/** A core with the given matcher, recording every event it emits in order. */
export function coreWith(matcher: Matcher, options: GuardOptions = {}) {
  const config = parseGuardOptions({ matcher, ...options });
  const core = new GuardCore({ config, matcher, store: undefined, sender: undefined });
  const events: string[] = [];
  const names: GuardEventName[] = ['scan', 'match', 'quarantine', 'reject', 'error'];
  for (const name of names) {
    core.events.on(name, (e) => {
      const detail =
        name === 'reject'
          ? `:${(e as { code: string }).code}`
          : name === 'scan'
            ? `:${(e as { outcome: string }).outcome}`
            : name === 'error'
              ? `:${(e as { stage: string }).stage}`
              : '';
      events.push(`${name}${detail}`);
    });
  }
  const parser = new MultipartParser(core.routeConfig.limits);
  return {
    core,
    events,
    upload: (selection: Selection = { kind: 'any' }) =>
      Entry.upload(core.routeConfig, parser, selection, false),
    scan: () => Entry.scan(core.routeConfig),
  };
}
