/**
 * `limits.maxBufferedBytes`: concurrent uploads cannot make the guard buffer more than the
 * process's budget (before it, 40 slow uploads of 10 × 4 MiB took a server with 2 GiB of
 * address space down). The budget counts bytes that arrived, never what a request announces:
 * connections that send headers and stall hold nothing and refuse nobody. Past the budget, the
 * request whose bytes crossed it is answered 503 `SCAN_BUSY` with `Retry-After`, announced by a
 * `reject`, and keeps nothing counted; a request alone passes whatever its size; every way a
 * request ends gives its bytes back (a leak would refuse every later upload). Behind the host's
 * parser (`scan()`), a file it left on disk counts from the guard's read of it to the decision
 * (the same refusal, before the read); one it left in memory is the host's, never counted. Every
 * adapter, real HTTP, no temp file left.
 */
import { createHash } from 'node:crypto';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { mostBufferedBy, uploadBudget } from '../../src/core/upload-budget.js';
import { photodnaGuard } from '../../src/index.js';
import { limitsSchema } from '../../src/options.js';
import type { Matcher, MatchRequest, MatchResult } from '../../src/types.js';
import { hostile, png } from '../fixtures/images.js';
import { adapters, type Running, startPerTest } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { listen } from '../helpers/express-app.js';
import { abortMidUpload, exchange, multipartBody, sendUpload } from '../helpers/raw-upload.js';
import {
  B,
  codeOf,
  head,
  KIB,
  MIB,
  partOf,
  send,
  stall,
  upload,
} from '../helpers/stalled-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

expectNoTempFiles();

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
  /** `uploadBudget.held` as each check began. */
  readonly heldAtCalls: number[] = [];
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
    this.heldAtCalls.push(uploadBudget.held);
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

afterEach(async () => {
  // Nothing a test started may leave reserved for the next one (the budget is the process's).
  await until(() => uploadBudget.held === 0, 'the budget given back');
});

describe.each(adapters)('$name', (adapter) => {
  const start = startPerTest(adapter);

  it('connections that sent only headers hold nothing: twenty announcing 40 MiB refuse no upload', async () => {
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { maxBufferedBytes: 256 * KIB } },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
    const stalled = Array.from({ length: 20 }, () => stall(server.port, '/upload', 40 * MIB));
    await until(() => server.requests() === 20, 'twenty request heads read');

    const answer = await send(server, '/upload', upload(CLEAN));
    expect(answer.status).toBe(200);
    expect(server.log.runs).toBe(1);
    expect(stalled.filter((s) => s.answered())).toEqual([]);
    expect(uploadBudget.held).toBe(0);
    for (const s of stalled) s.socket.destroy();
  });

  it('bytes that arrived count: past the budget the next upload is answered 503 SCAN_BUSY with Retry-After, keeping nothing; once those connections close an upload passes', async () => {
    const matcher = new Backend();
    const budget = 256 * KIB;
    const server = await start(
      { matcher, cache: false, limits: { maxBufferedBytes: budget, maxFileSize: MIB } },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
    const rejects: Array<{ code: string; detail?: string }> = [];
    server.guard.on('reject', (event) => rejects.push(event));
    // Together 200 KiB of 256: a 111 KiB upload beside them crosses the budget.
    const part = partOf(512 * KIB, 100 * KIB);
    const stalled = [1, 2].map(() => stall(server.port, '/upload', part.length, part.sent));
    await until(() => uploadBudget.held === 2 * part.sent.length, 'both stalled uploads counted');

    const refused = await send(server, '/upload', upload(CLEAN));
    expect(refused.status).toBe(503);
    expect(codeOf(refused)).toBe('SCAN_BUSY');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(rejects.map((r) => r.code)).toEqual(['SCAN_BUSY']);
    expect(rejects[0]?.detail).toContain('maxBufferedBytes');
    expect(server.log.runs).toBe(0);
    expect(matcher.calls).toBe(0); // refused mid-body, never checked
    // The refused upload keeps nothing counted; the stalled ones, first there, are not refused.
    expect(uploadBudget.held).toBe(2 * part.sent.length);
    expect(stalled.filter((s) => s.answered())).toEqual([]);

    for (const s of stalled) s.socket.destroy();
    await until(() => uploadBudget.held === 0, 'the stalled uploads’ bytes given back');
    expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
  });

  it('a request alone passes whatever its size, past the budget, beside connections that sent only headers', async () => {
    const server = await start(
      {
        matcher: new Backend(),
        cache: false,
        limits: { maxBufferedBytes: 64 * KIB, maxFileSize: MIB },
      },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
    const stalled = [1, 2, 3].map(() => stall(server.port, '/upload', 40 * MIB));
    await until(() => server.requests() === 3, 'three request heads read');
    const big = upload(png(200, 200, 8, 600 * KIB));
    const answer = await send(server, '/upload', big);
    expect(answer.status).toBe(200);
    expect(server.log.runs).toBe(1);
    for (const s of stalled) s.socket.destroy();
  });

  it('a chunked body (no Content-Length) counts the bytes that arrived, not what its limits allow', async () => {
    const body = upload(CLEAN);
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { maxBufferedBytes: 2 * body.length } },
      [{ path: '/upload', use: (g) => g.single('f') }],
    );
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
    await until(() => uploadBudget.held === 1000, 'the chunked upload’s first bytes counted');

    expect((await send(server, '/upload', body)).status).toBe(200);
    finish();
    expect((await chunked).status).toBe(200);
  });

  it('a request counts no more than its limits let it hold: bytes its parser skips (a part with no file name, stalled) do not', async () => {
    const small = { maxFiles: 1, maxFileSize: 64 * KIB, maxFields: 1, maxFieldSize: KIB };
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { maxBufferedBytes: 256 * KIB } },
      [
        { path: '/small', use: (g) => g.route({ limits: small }).single('f') },
        { path: '/upload', use: (g) => g.single('f') },
      ],
    );
    const most = mostBufferedBy(limitsSchema.parse(small));
    // A file input left empty (no file name) whose part carries 400 KiB all the same: the
    // parser skips it, as multer does, reading on to the next part.
    const skipped = multipartBody(B, [
      { name: 'f', filename: '', type: 'image/png', data: png(200, 200, 6, 400 * KIB) },
    ]);
    const stalled = stall(server.port, '/small', skipped.length, skipped.subarray(0, 300 * KIB));
    await until(() => uploadBudget.held === most, 'the stalled upload counted up to its limits');

    expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
    expect(stalled.answered()).toBe(false);
    stalled.socket.destroy();
  });

  it('a file past maxFileSize is refused and the rest of its body drained, then answered 413', async () => {
    const small = { maxFiles: 1, maxFileSize: 64 * KIB, maxFields: 1, maxFieldSize: KIB };
    const server = await start(
      { matcher: new Backend(), cache: false, limits: { maxBufferedBytes: 256 * KIB } },
      [{ path: '/small', use: (g) => g.route({ limits: small }).single('f') }],
    );
    const part = partOf(400 * KIB, 300 * KIB);
    const stalled = stall(server.port, '/small', part.length, part.sent);
    await until(() => server.requests() === 1, 'the request head read');
    stalled.socket.write(Buffer.alloc(part.length - part.sent.length, 0x20));
    await until(() => stalled.answered(), 'answered once the body ended', 10_000);
    expect(stalled.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(uploadBudget.held).toBe(0);
    stalled.socket.destroy();
  });

  it('a request refused by a limit keeps nothing counted while the rest of its body is drained, even the chunk that crossed the limit', async () => {
    const server = await start({ matcher: new Backend(), cache: false, limits: { maxFields: 2 } }, [
      { path: '/upload', use: (g) => g.single('f') },
    ]);
    const field = (name: string, size: number) =>
      Buffer.from(
        `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${'v'.repeat(size)}\r\n`,
      );
    const first = field('a', 10 * KIB);
    // Three fields more: multer refuses the body (LIMIT_FIELD_COUNT) while reading this chunk,
    // and drains the rest, which this client never sends.
    const crossing = Buffer.concat([field('b', 100), field('c', 100), field('d', 100)]);
    const client = stall(server.port, '/upload', MIB, first);
    await until(() => uploadBudget.held === first.length, 'the first field counted');
    client.socket.write(crossing);
    await until(() => uploadBudget.held === 0, 'nothing counted once refused', 10_000);
    expect(client.answered()).toBe(false); // still draining: answered once the body ends
    client.socket.destroy();
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

describe('express5: a handler that throws', () => {
  it('the passed upload’s bytes were given back when the guard decided, before the handler ran', async () => {
    const guard = photodnaGuard({
      matcher: new Backend(),
      cache: false,
      limits: { maxBufferedBytes: 1 },
    });
    const app = express();
    let counted = -1;
    app.post('/upload', guard.single('f'), () => {
      counted = uploadBudget.held;
      throw new Error('the handler failed');
    });
    app.post('/ok', guard.single('f'), (_req, res) => void res.json({}));
    const server = await listen(app);
    try {
      const thrown = await exchange(
        server.port,
        head('/upload', upload(CLEAN).length),
        upload(CLEAN),
      );
      expect(thrown.status).toBe(500);
      expect(counted).toBe(0);
      await until(() => uploadBudget.held === 0, 'the budget given back');
      const later = await exchange(server.port, head('/ok', upload(CLEAN).length), upload(CLEAN));
      expect(later.status).toBe(200);
    } finally {
      await server.close();
      await guard.close();
    }
  });
});

const onDisk = scanAdapters.filter((a) => a.hostStorage === 'disk');
const inMemory = scanAdapters.filter((a) => a.hostStorage === 'memory');

describe.each(onDisk)('$name (the host’s parser saved the files to disk)', (adapter) => {
  const start = startPerTest(adapter);

  async function serve(matcher: Backend) {
    // Anything counted refuses the next upload; one upload alone always passes.
    return start({ matcher, cache: false, limits: { maxBufferedBytes: 1, maxFileSize: MIB } }, [
      { path: '/upload', use: (g) => g.single('f') },
      { path: '/slow', use: (g) => g.route({ scanTimeoutMs: 300 }).single('f') },
    ]);
  }

  it('a file read from disk counts until the guard decides: past the budget the next upload is refused 503 SCAN_BUSY before its file is read', async () => {
    const matcher = new Backend();
    matcher.hold();
    const server = await serve(matcher);
    const rejects: Array<{ code: string; detail?: string }> = [];
    server.guard.on('reject', (event) => rejects.push(event));
    const waiting = send(server, '/upload', upload(CLEAN));
    await until(() => matcher.calls === 1, 'the first check held');
    // Alone, it passed the budget of 1 byte; its file, read into memory, counts while it waits.
    expect(uploadBudget.held).toBeGreaterThanOrEqual(CLEAN.length);
    const held = uploadBudget.held;

    const refused = await send(server, '/upload', upload(png(200, 200, 2)));
    expect(refused.status).toBe(503);
    expect(codeOf(refused)).toBe('SCAN_BUSY');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(rejects.map((r) => r.code)).toEqual(['SCAN_BUSY']);
    expect(rejects[0]?.detail).toContain('maxBufferedBytes');
    expect(matcher.calls).toBe(1); // never checked
    expect(uploadBudget.held).toBe(held); // the refused one keeps nothing counted

    matcher.open();
    expect((await waiting).status).toBe(200);
    expect(server.log.runs).toBe(1);
    await until(() => uploadBudget.held === 0, 'the budget given back once decided');
    expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
  });

  describe('every way a request ends gives its file’s bytes back: a later upload fits a one-upload budget', () => {
    async function laterFits(server: Running) {
      await until(() => uploadBudget.held === 0, 'the budget given back');
      expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
    }

    it.each([
      ['passed', '/upload', CLEAN, 200, undefined],
      ['refused: a match', '/upload', KNOWN, 422, 'INVALID_IMAGE'],
      ['refused: the check outlived scanTimeoutMs', '/slow', STALLED, 503, 'SCAN_UNAVAILABLE'],
    ])('%s', async (_, path, data, status, code) => {
      const matcher = new Backend();
      const server = await serve(matcher);
      const answer = await send(server, path, upload(data));
      expect(answer.status).toBe(status);
      if (code) expect(codeOf(answer)).toBe(code);
      expect(matcher.heldAtCalls[0]).toBeGreaterThanOrEqual(data.length); // counted while checked
      await laterFits(server);
    });

    it('the uploader left during the check', async () => {
      const matcher = new Backend();
      const server = await serve(matcher);
      const socket = sendUpload(server.port, '/upload', upload(STALLED), B);
      await until(() => matcher.calls === 1, 'the check under way');
      expect(matcher.heldAtCalls[0]).toBeGreaterThanOrEqual(STALLED.length);
      socket.destroy();
      await laterFits(server);
    });
  });
});

describe.each(inMemory)('$name (the host’s parser kept the files in memory)', (adapter) => {
  const start = startPerTest(adapter);

  it('files the host holds in memory are its own: neither counted nor refused', async () => {
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
