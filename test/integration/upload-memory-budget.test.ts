/**
 * `limits.maxBufferedBytes`: concurrent uploads cannot make the guard buffer more than the
 * process's budget (before it, 40 slow uploads of 10 × 4 MiB took a server with 2 GiB of
 * address space down). Past the budget an upload is answered 503 `SCAN_BUSY` with `Retry-After`,
 * its body unread, announced by a `reject`; every way a request ends gives its bytes back
 * (a leak would refuse every later upload); and the host parser's files (`scan()`) are never
 * counted nor refused. Every adapter, real HTTP, no temp file left.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { mostBufferedBy, uploadBudget } from '../../src/core/upload-budget.js';
import { limitsSchema } from '../../src/options.js';
import type { Matcher, MatchRequest, MatchResult } from '../../src/types.js';
import { hostile, png } from '../fixtures/images.js';
import { adapters, type Running, startPerTest } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import {
  abortMidUpload,
  exchange,
  multipartBody,
  type RawAnswer,
  sendUpload,
} from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

expectNoTempFiles();

const B = 'BudgetBoundary';
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const CLEAN = png(200, 200, 1);
const KNOWN = png(200, 200, 4711);
/** An image whose check never answers (until the request's signal aborts it). */
const STALLED = png(200, 200, 99);

/**
 * A real back end for the matcher seam: `KNOWN` matches, `STALLED` is never answered (a scan
 * that outlives `scanTimeoutMs`, or the uploader), anything else is clean at once.
 */
class Backend implements Matcher {
  calls = 0;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  /** Holds every call until `open()` (two checks in flight at once, as long as the test wants). */
  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  open(): void {
    this.#open?.();
  }

  async match({ file, signal }: MatchRequest): Promise<MatchResult> {
    this.calls += 1;
    await this.#gate;
    if (file.sha256 === sha(STALLED)) {
      await new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
    }
    const isMatch = file.sha256 === sha(KNOWN);
    return {
      isMatch,
      trackingId: 'budget',
      matchFlags: isMatch ? [{ source: 'Test', violations: ['A1'] }] : [],
    };
  }
}

const upload = (data: Buffer, name = 'a.png') =>
  multipartBody(B, [{ name: 'f', filename: name, type: 'image/png', data }]);

const head = (path: string, length: number) => [
  `POST ${path} HTTP/1.1`,
  'Host: 127.0.0.1',
  'Connection: close',
  `Content-Type: multipart/form-data; boundary=${B}`,
  `Content-Length: ${length}`,
];

/** Sends all of `body` but its last bytes, and the rest only once `finish()` is called. */
function heldUpload(port: number, path: string, body: Buffer) {
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  async function* chunks() {
    yield body.subarray(0, body.length - 10);
    await finished;
    yield body.subarray(body.length - 10);
  }
  return { answer: exchange(port, head(path, body.length), chunks()), finish };
}

const send = (server: Running, path: string, body: Buffer) =>
  exchange(server.port, head(path, body.length), body);

const codeOf = (answer: RawAnswer) =>
  (JSON.parse(answer.body.toString()) as { error?: { code: string } }).error?.code;

afterEach(async () => {
  // Nothing a test started may leave reserved for the next one (the budget is the process's).
  await until(() => uploadBudget.held === 0, 'the budget given back');
});

describe.each(adapters)('$name', (adapter) => {
  const start = startPerTest(adapter);

  it('an upload past the budget is answered 503 SCAN_BUSY with Retry-After, unread; those within it pass', async () => {
    const body = upload(CLEAN);
    const matcher = new Backend();
    const server = await start(
      { matcher, cache: false, limits: { maxBufferedBytes: 2 * body.length } },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
    const rejects: Array<{ code: string; detail?: string }> = [];
    server.guard.on('reject', (event) => rejects.push(event));
    const first = heldUpload(server.port, '/upload', body);
    const second = heldUpload(server.port, '/upload', body);
    await until(() => uploadBudget.held === 2 * body.length, 'two uploads in progress');

    const third = await send(server, '/upload', body);
    expect(third.status).toBe(503);
    expect(codeOf(third)).toBe('SCAN_BUSY');
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(rejects.map((r) => r.code)).toEqual(['SCAN_BUSY']);
    expect(rejects[0]?.detail).toContain('maxBufferedBytes');
    expect(server.log.runs).toBe(0);
    expect(matcher.calls).toBe(0); // refused before its body was read

    first.finish();
    second.finish();
    expect((await first.answer).status).toBe(200);
    expect((await second.answer).status).toBe(200);
    expect(server.log.runs).toBe(2);
    await until(() => uploadBudget.held === 0, 'the budget given back');
    expect((await send(server, '/upload', body)).status).toBe(200);
  });

  it('a body without Content-Length (chunked) reserves the most its limits let it buffer', async () => {
    const limits = { maxFiles: 1, maxFileSize: 160 * 1024, maxFields: 2 };
    const most = mostBufferedBy(limitsSchema.parse(limits));
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { ...limits, maxBufferedBytes: most } },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
    const body = upload(CLEAN);
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const chunk = (bytes: Buffer) =>
      Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
    async function* chunks() {
      yield chunk(body.subarray(0, 1000));
      await finished;
      yield Buffer.concat([chunk(body.subarray(1000)), Buffer.from('0\r\n\r\n')]);
    }
    const chunked = exchange(
      server.port,
      [...head('/upload', 0).slice(0, -1), 'Transfer-Encoding: chunked'],
      chunks(),
    );
    await until(() => uploadBudget.held === most, 'the chunked upload in progress');

    const small = await send(server, '/upload', body);
    expect(small.status).toBe(503);
    expect(codeOf(small)).toBe('SCAN_BUSY');
    finish();
    expect((await chunked).status).toBe(200);
  });

  describe('every way a request ends gives its bytes back: a later upload fits a one-upload budget', () => {
    const clean = upload(CLEAN);

    async function serve() {
      const matcher = new Backend();
      const server = await start(
        {
          matcher,
          cache: false,
          // Anything still reserved refuses the next upload.
          limits: { maxBufferedBytes: 1, maxFileSize: 160 * 1024 },
        },
        [
          { path: '/upload', use: (g) => g.single('f') },
          { path: '/slow', use: (g) => g.route({ scanTimeoutMs: 300 }).single('f') },
        ],
      );
      return { server, matcher };
    }

    async function laterFits(server: Running) {
      await until(() => uploadBudget.held === 0, 'the budget given back');
      const later = await send(server, '/upload', clean);
      expect(later.status).toBe(200);
    }

    it.each([
      ['passed', CLEAN, 200, undefined],
      ['refused: not an image', hostile.svg(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['refused: a match', KNOWN, 422, 'INVALID_IMAGE'],
      [
        'refused mid-body: a file over maxFileSize',
        png(200, 200, 3, 200 * 1024),
        413,
        'FILE_TOO_LARGE',
      ],
    ])('%s', async (_, data, status, code) => {
      const { server } = await serve();
      const answer = await send(server, '/upload', upload(data));
      expect(answer.status).toBe(status);
      if (code) expect(codeOf(answer)).toBe(code);
      await laterFits(server);
    });

    it('refused: a malformed body', async () => {
      const { server } = await serve();
      const body = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx`);
      const answer = await send(server, '/upload', body);
      expect(answer.status).toBe(400);
      expect(codeOf(answer)).toBe('MALFORMED_MULTIPART');
      await laterFits(server);
    });

    it('refused: the check outlived scanTimeoutMs', async () => {
      const { server } = await serve();
      const reasons: unknown[] = [];
      server.guard.on('error', (event) => reasons.push(event.reason));
      const answer = await send(server, '/slow', upload(STALLED));
      expect(answer.status).toBe(503);
      expect(codeOf(answer)).toBe('SCAN_UNAVAILABLE');
      expect(reasons).toEqual(['timeout']);
      await laterFits(server);
    });

    it('the uploader left mid-body', async () => {
      const { server } = await serve();
      const body = upload(png(200, 200, 5));
      await abortMidUpload(server.port, '/upload', body, B, Math.floor(body.length / 2));
      await laterFits(server);
      expect(server.log.runs).toBe(1);
    });

    it('the uploader left during the check', async () => {
      const { server, matcher } = await serve();
      const socket = sendUpload(server.port, '/upload', upload(STALLED), B);
      await until(() => matcher.calls === 1, 'the check under way');
      socket.destroy();
      await laterFits(server);
      expect(server.log.runs).toBe(1);
    });
  });

  it('behind app.use(guard) (the body replayed for the host’s parsers), a passed upload gives its bytes back', async () => {
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { maxBufferedBytes: 1 } },
      [{ path: '/upload' }],
      { global: true },
    );
    for (let i = 0; i < 2; i++) {
      expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
      await until(() => uploadBudget.held === 0, 'the budget given back');
    }
  });
});

describe.each(scanAdapters)('$name (the host’s parser read the body)', (adapter) => {
  const start = startPerTest(adapter);

  it('files the host parsed are neither counted nor refused', async () => {
    const matcher = new Backend();
    matcher.hold();
    const server = await start({ matcher, cache: false, limits: { maxBufferedBytes: 1 } }, [
      { path: '/upload', use: (g) => g.single('f') },
    ]);
    const answers = [
      send(server, '/upload', upload(CLEAN)),
      send(server, '/upload', upload(CLEAN)),
    ];
    await until(() => matcher.calls === 2, 'both checks in flight');
    expect(uploadBudget.held).toBe(0);
    matcher.open();
    for (const answer of await Promise.all(answers)) expect(answer.status).toBe(200);
  });
});
