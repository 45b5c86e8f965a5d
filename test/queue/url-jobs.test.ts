import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import type { ErrorEvent, MatchEvent, RejectEvent, ScanEvent } from '../../src/events.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import {
  createScanWorker,
  incidentIdOf,
  openScanQueue,
  type QueueEngine,
  type ScanWorker,
  type ScanWorkerOptions,
} from '../../src/queue/index.js';
import type { Logger } from '../../src/types.js';
import { useRedisServer } from '../cluster/redis-admin.js';
import { freePort } from '../cluster/redis-server.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { hostile, png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { until } from '../helpers/until.js';
import { ENDLESS_MAX, type ImageHost, startImageHost } from './image-host.js';

/**
 * Issue 12: `url` jobs. With PhotoDNA as matcher the service fetches the image (Match-by-URL, the
 * real emulator with an allow-list fetching from a loopback image host); with a custom matcher
 * the worker downloads it, bounded. Matches are quarantined with their evidence, downloaded by
 * the worker; a match whose evidence cannot be had is retried and then emitted without it.
 */

const SECRET = 'sig-Zq81xTOKEN';
const PASSWORD = 'pw-Hx7kQSECRET';
const known = () => testImages()[0]?.bytes as Buffer;
const clean = png(200, 200, 77);

let emulator: Emulator;
let host: ImageHost;
let root: string;

beforeAll(async () => {
  host = await startImageHost({
    '/known.png': { bytes: known() },
    '/clean.png': { bytes: clean },
    '/not-image': { bytes: hostile.executable(), type: 'application/octet-stream' },
    // The service gets the image, the worker's evidence download a 404 (then, for /late, the image).
    '/gone.png': (hit) =>
      hit % 2 === 1 ? { bytes: known() } : { bytes: Buffer.alloc(0), status: 404 },
    '/late.png': (hit) =>
      hit === 2 ? { bytes: Buffer.alloc(0), status: 404 } : { bytes: known() },
    '/huge-declared': { endless: true, declared: 64 * 1024 * 1024 },
    '/huge-chunked': { endless: true },
    '/r1': { redirect: '/r2' },
    '/r2': { redirect: '/r3' },
    '/r3': { redirect: '/clean.png' },
    '/r-far': { redirect: '/r1' },
    '/r-file': { redirect: 'file:///etc/passwd' },
    '/r-cred': () => ({ redirect: `http://svc:${PASSWORD}@127.0.0.1:${host.port}/clean.png` }),
    '/stall.png': { stall: true },
  });
  emulator = await startEmulator({ urlAllowList: [`127.0.0.1:${host.port}`] });
  root = mkdtempSync(join(tmpdir(), 'pdg-urljobs-'));
});
afterAll(async () => {
  await Promise.all([emulator?.close(), host?.close()]);
  rmSync(root, { recursive: true, force: true });
});

const fresh = (name: string) => join(root, `${name}-${Math.random().toString(36).slice(2)}`);
const url = (path: string) => `${host.origin}${path}?X-Amz-Signature=${SECRET}`;

interface Seen {
  scans: ScanEvent[];
  matches: MatchEvent[];
  rejects: RejectEvent[];
  errors: ErrorEvent[];
  logged: string[];
}

const running: Array<{ worker: ScanWorker; queue: QueueEngine }> = [];
afterEach(async () => {
  for (const { worker, queue } of running.splice(0)) {
    await worker.close();
    await queue.close();
  }
});

async function startWorker(
  queue: QueueEngine,
  options: Partial<ScanWorkerOptions> = {},
): Promise<{ worker: ScanWorker; seen: Seen }> {
  const seen: Seen = { scans: [], matches: [], rejects: [], errors: [], logged: [] };
  const log =
    (level: string) =>
    (obj: unknown, msg?: string): void => {
      const err = (obj as { err?: Error }).err;
      seen.logged.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)} ${err?.message ?? ''}`);
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
  const worker = await createScanWorker({
    queue,
    apiKey: 'url-jobs-key',
    baseUrl: emulator.url,
    urlAttempts: 2,
    logger,
    ...options,
  });
  worker.on('scan', (e) => void seen.scans.push(e));
  worker.on('match', (e) => void seen.matches.push(e));
  worker.on('reject', (e) => void seen.rejects.push(e));
  worker.on('error', (e) => void seen.errors.push(e));
  running.push({ worker, queue });
  return { worker, seen };
}

/** No token in any log line, error or reject detail, nor in an event logged whole. */
function expectNoSecret(seen: Seen): void {
  const texts = [
    ...seen.logged,
    ...[...seen.scans, ...seen.matches, ...seen.rejects].map((e) => JSON.stringify(e)),
    ...[...seen.scans, ...seen.matches, ...seen.rejects].map((e) => inspect(e)),
    ...seen.errors.map((e) => `${e.error.message} ${String((e.error.cause as Error)?.message)}`),
    ...seen.rejects.map((e) => e.detail ?? ''),
  ];
  for (const text of texts) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(PASSWORD);
  }
  expect(seen.logged.join('\n')).not.toContain(SECRET);
}

const hitsOf = (path: string) => host.hits.filter((hit) => hit.startsWith(`${path}?`)).length;

describe('url jobs matched by PhotoDNA (the service fetches the image)', () => {
  it('clean: one Match-by-URL call, no bytes through the worker', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue);
    const before = hitsOf('/clean.png');
    const calls = emulator.calls.length;
    await queue.enqueue({ scanId: 'url-clean', source: { kind: 'url', url: url('/clean.png') } });
    await until(() => seen.scans.length === 1, 'the scan event');
    expect(seen.scans[0]).toMatchObject({
      scanId: 'url-clean',
      outcome: 'clean',
      deferred: true,
      url: url('/clean.png'),
      file: { sha256: '', size: 0 },
    });
    // The service fetched it once; the worker never did.
    expect(hitsOf('/clean.png') - before).toBe(1);
    expect(emulator.calls.slice(calls).map((c) => c.contentType)).toEqual(['application/json']);
    expectNoSecret(seen);
  });

  it('match: quarantined with the evidence the worker downloads, the URL recorded redacted', async () => {
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, { quarantine: { dir: quarantineDir } });
    await queue.enqueue({
      scanId: 'url-match',
      source: { kind: 'url', url: url('/known.png') },
      metadata: { post: 9 },
    });
    await until(() => seen.matches.length === 1, 'the match event');
    const [match] = seen.matches;
    expect(match).toMatchObject({
      scanId: 'url-match',
      deferred: true,
      url: url('/known.png'),
      metadata: { post: 9 },
      policy: 'quarantine',
      quarantineId: incidentIdOf('url-match'),
    });
    expect(match?.buffer.equals(known())).toBe(true);
    expect(seen.scans.map((s) => [s.outcome, s.file.size])).toEqual([['match', known().length]]);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    const { record, bytes } = await store.get(incidentIdOf('url-match'));
    expect(bytes.equals(known())).toBe(true);
    expect(record.sourceUrl).toBe(`${host.origin}/known.png?[redacted]`);
    expect(seen.errors).toEqual([]);
    expectNoSecret(seen);
  });

  it('invalid: not an image (3206) at once; a 404 (3002) after urlAttempts', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue);
    await queue.enqueue({ scanId: 'url-exe', source: { kind: 'url', url: url('/not-image') } });
    await queue.enqueue({ scanId: 'url-404', source: { kind: 'url', url: url('/missing.png') } });
    await until(() => seen.rejects.length === 2, 'two reject events');
    const byId = (id: string) => seen.rejects.find((r) => r.scanId === id);
    expect(byId('url-exe')?.code).toBe('INVALID_IMAGE');
    expect(byId('url-404')?.code).toBe('INVALID_IMAGE');
    expect(byId('url-404')?.detail).toMatch(/PhotoDNA could not fetch .*attempt 2 of 2/);
    // The 404 was tried twice: one error event (the retry), then the reject.
    expect(seen.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/url-404.*attempt 1 of 2/),
    ]);
    expect(seen.scans).toEqual([]);
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    expectNoSecret(seen);
  });

  it('unreachable host: retried, then scanned once the host is up', async () => {
    const port = await freePort();
    const late = `http://127.0.0.1:${port}/clean.png?token=${SECRET}`;
    const emu = await startEmulator({ urlAllowList: [`127.0.0.1:${port}`] });
    try {
      const queue = await openScanQueue({ dir: fresh('queue') });
      const { seen } = await startWorker(queue, { baseUrl: emu.url, urlAttempts: 5 });
      await queue.enqueue({ scanId: 'url-down', source: { kind: 'url', url: late } });
      await until(() => seen.errors.length >= 1, 'the first failed attempt');
      expect(seen.errors[0]?.error.message).toMatch(/url-down/);
      const upLater = await startImageHost({ '/clean.png': { bytes: clean } }, port);
      try {
        await until(() => seen.scans.length === 1, 'the scan once the host is up');
        expect(seen.scans[0]).toMatchObject({ scanId: 'url-down', outcome: 'clean', url: late });
        expect(upLater.hits).toEqual([`/clean.png?token=${SECRET}`]);
        expect(seen.rejects).toEqual([]);
        expectNoSecret(seen);
      } finally {
        await upLater.close();
      }
    } finally {
      await emu.close();
    }
  });

  it('evidence missing at first: the job runs again and quarantines it', async () => {
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, { quarantine: { dir: quarantineDir } });
    await queue.enqueue({ scanId: 'url-late', source: { kind: 'url', url: url('/late.png') } });
    await until(() => seen.matches.length === 1, 'the match event');
    expect(seen.matches[0]).toMatchObject({ quarantineId: incidentIdOf('url-late') });
    expect(seen.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/evidence of a match could not be downloaded.*url-late/),
    ]);
    // One scan event, after the evidence: none for the attempt that had to run again.
    expect(seen.scans.map((s) => s.outcome)).toEqual(['match']);
    expect(hitsOf('/late.png')).toBe(4);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.get(incidentIdOf('url-late'))).bytes.equals(known())).toBe(true);
    expectNoSecret(seen);
  });

  it('evidence never retrievable: the match is emitted anyway on the last attempt', async () => {
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, { quarantine: { dir: quarantineDir } });
    await queue.enqueue({ scanId: 'url-gone', source: { kind: 'url', url: url('/gone.png') } });
    await until(() => seen.matches.length === 1, 'the match event');
    const [match] = seen.matches;
    expect(match).toMatchObject({
      scanId: 'url-gone',
      deferred: true,
      url: url('/gone.png'),
      policy: 'flag',
      id: incidentIdOf('url-gone'),
    });
    expect(match?.quarantineId).toBeUndefined();
    expect(match?.buffer.length).toBe(0);
    expect(seen.errors.map((e) => [e.stage, e.error.message])).toEqual([
      ['scan', expect.stringMatching(/evidence of a match could not be downloaded/)],
      ['quarantine', expect.stringMatching(/url-gone was not retrieved after 2 attempts/)],
    ]);
    expect(await createFileQuarantineStore({ dir: quarantineDir }).list()).toEqual([]);
    await expect(
      match?.report({
        orgName: 'Org',
        reporterName: 'R',
        reporterEmail: 'r@example.org',
        ncmecUser: 'u',
        ncmecPassword: 'p',
      }),
    ).rejects.toThrow(/evidence of this match was not retrieved/);
    await until(async () => (await queue.depth()).active === 0, 'the job done');
    expect(await queue.depth()).toMatchObject({ waiting: 0 });
    expectNoSecret(seen);
  });

  it('a service answer quoting the URL does not leak its query string', async () => {
    // A stand-in for the service that quotes the URL it was given in its 3002 answer.
    const quoting = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        const { Value } = JSON.parse(body) as { Value: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            Status: { Code: 3002, Description: `cannot fetch ${Value}`, Exception: Value },
            TrackingId: 'quoting-1',
          }),
        );
      });
    });
    await new Promise<void>((resolve) => quoting.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = quoting.address() as AddressInfo;
      const queue = await openScanQueue({ dir: fresh('queue') });
      const { seen } = await startWorker(queue, {
        baseUrl: `http://127.0.0.1:${port}`,
        urlAttempts: 1,
      });
      await queue.enqueue({ scanId: 'url-quoted', source: { kind: 'url', url: url('/x.png') } });
      await until(() => seen.rejects.length === 1, 'the reject event');
      expect(seen.rejects[0]?.detail).toMatch(/cannot fetch .*\/x\.png/);
      expectNoSecret(seen);
    } finally {
      await new Promise<void>((resolve) => quoting.close(() => resolve()));
    }
  });

  it('refuses a URL that is not absolute http(s) at enqueue', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    for (const bad of ['file:///etc/passwd', '/relative.png', 'ftp://127.0.0.1/a.png', '']) {
      await expect(queue.enqueue({ source: { kind: 'url', url: bad } })).rejects.toThrow(
        /absolute http\(s\) URL/,
      );
    }
    await expect(
      queue.enqueue({ source: { kind: 'url', url: `http://a.test/${'x'.repeat(9_000)}` } }),
    ).rejects.toThrow(/longer than/);
    // fetch refuses a URL with credentials, quoting it whole: refused here, without the password.
    const refused = await queue
      .enqueue({ source: { kind: 'url', url: `https://svc:${PASSWORD}@a.test/a.png` } })
      .catch((error: unknown) => error as Error);
    expect((refused as Error).message).toMatch(/must not hold a user name or password/);
    expect(String(refused)).not.toContain(PASSWORD);
    await queue.close();
    // Worker options are checked before its queue is opened.
    const dir = fresh('queue');
    for (const bad of [{ urlAttempts: 0 }, { download: { maxRedirects: -1 } }]) {
      await expect(
        createScanWorker({ queue: { dir }, apiKey: 'k', baseUrl: emulator.url, ...bad }),
      ).rejects.toThrow(/urlAttempts|maxRedirects/);
    }
    expect(existsSync(dir)).toBe(false);
  });
});

describe("url jobs from guard.queue (the guard's own worker)", () => {
  it('PhotoDNA alone: Match-by-URL; with PDQ as well: the worker downloads', async () => {
    const { photodnaGuard } = await import('../../src/index.js');
    for (const pdq of [false, true]) {
      const quarantineDir = fresh('quarantine');
      const guard = photodnaGuard({
        apiKey: 'guard-url-key',
        baseUrl: emulator.url,
        policy: 'quarantine',
        quarantine: { dir: quarantineDir },
        queue: { dir: fresh('queue') },
        ...(pdq
          ? { pdq: { mode: 'both' as const, lists: [{ name: 'none', hashes: ['0'.repeat(64)] }] } }
          : {}),
      });
      const matches: MatchEvent[] = [];
      guard.on('match', (e) => void matches.push(e));
      const calls = emulator.calls.length;
      const before = hitsOf('/known.png');
      await guard.queue?.enqueue({
        scanId: `guard-${pdq}`,
        source: { kind: 'url', url: url('/known.png') },
      });
      await until(() => matches.length === 1, 'the match event');
      expect(matches[0]).toMatchObject({
        url: url('/known.png'),
        quarantineId: incidentIdOf(`guard-${pdq}`),
      });
      // Match-by-URL: a JSON call, then the evidence download; downloaded: one download, a bytes call.
      expect(emulator.calls.slice(calls).map((c) => c.contentType)).toEqual([
        pdq ? 'image/png' : 'application/json',
      ]);
      expect(hitsOf('/known.png') - before).toBe(pdq ? 1 : 2);
      await guard.close();
    }
  });
});

describe('url jobs with a custom matcher (the worker downloads the image)', () => {
  const matcherFor = () => new RecordingMatcher([testImages()[0]?.sha256 as string]);

  it('downloads, validates and matches; a match is quarantined with the URL recorded', async () => {
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ dir: fresh('queue') });
    const matcher = matcherFor();
    const calls = emulator.calls.length;
    const { seen } = await startWorker(queue, { matcher, quarantine: { dir: quarantineDir } });
    await queue.enqueue({ scanId: 'dl-clean', source: { kind: 'url', url: url('/clean.png') } });
    await queue.enqueue({ scanId: 'dl-match', source: { kind: 'url', url: url('/known.png') } });
    await until(() => seen.scans.length === 2 && seen.matches.length === 1, 'both jobs');
    expect(seen.scans.map((s) => [s.scanId, s.outcome, s.url]).sort()).toEqual([
      ['dl-clean', 'clean', url('/clean.png')],
      ['dl-match', 'match', url('/known.png')],
    ]);
    expect(matcher.calls.map((c) => c.file.size).sort()).toEqual(
      [clean.length, known().length].sort(),
    );
    expect(emulator.calls.length).toBe(calls);
    const { record, bytes } = await createFileQuarantineStore({ dir: quarantineDir }).get(
      incidentIdOf('dl-match'),
    );
    expect(bytes.equals(known())).toBe(true);
    expect(record.sourceUrl).toBe(`${host.origin}/known.png?[redacted]`);
    expectNoSecret(seen);
  });

  it('refuses an oversized body without reading it all (declared or not)', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, { matcher: matcherFor() });
    await queue.enqueue({ scanId: 'dl-big1', source: { kind: 'url', url: url('/huge-declared') } });
    await queue.enqueue({ scanId: 'dl-big2', source: { kind: 'url', url: url('/huge-chunked') } });
    await until(() => seen.rejects.length === 2, 'two reject events');
    expect(seen.rejects.map((r) => r.code)).toEqual(['FILE_TOO_LARGE', 'FILE_TOO_LARGE']);
    await until(
      () => [...host.written.values()].filter((w) => w.closed).length >= 2,
      'both bodies abandoned',
    );
    for (const path of ['/huge-declared', '/huge-chunked']) {
      const written = host.written.get(path);
      expect(written?.closed).toBe(true);
      // 4 MiB (limits.maxFileSize) plus socket buffers, far from the whole body.
      expect(written?.bytes).toBeLessThan(Math.min(ENDLESS_MAX, 64 * 1024 * 1024) / 2);
    }
    expectNoSecret(seen);
  });

  it('gives up on a body that stalls after download.timeoutMs', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, {
      matcher: matcherFor(),
      download: { timeoutMs: 300 },
      urlAttempts: 1,
    });
    await queue.enqueue({ scanId: 'dl-stall', source: { kind: 'url', url: url('/stall.png') } });
    await until(() => seen.rejects.length === 1, 'the reject event');
    expect(seen.rejects[0]?.detail).toMatch(/no answer within 300 ms.*attempt 1 of 1/);
    expectNoSecret(seen);
  });

  it('follows at most download.maxRedirects redirects, to http(s) only', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const { seen } = await startWorker(queue, { matcher: matcherFor(), urlAttempts: 1 });
    await queue.enqueue({ scanId: 'dl-r3', source: { kind: 'url', url: url('/r1') } });
    await until(() => seen.scans.length === 1, 'the redirected scan');
    expect(seen.scans[0]).toMatchObject({ scanId: 'dl-r3', outcome: 'clean' });
    await queue.enqueue({ scanId: 'dl-r4', source: { kind: 'url', url: url('/r-far') } });
    await queue.enqueue({ scanId: 'dl-file', source: { kind: 'url', url: url('/r-file') } });
    // A redirect to a URL with a password: not fetched, and the password in no message.
    await queue.enqueue({ scanId: 'dl-cred', source: { kind: 'url', url: url('/r-cred') } });
    await until(() => seen.rejects.length === 3, 'three reject events');
    const detail = (id: string) => seen.rejects.find((r) => r.scanId === id)?.detail;
    expect(detail('dl-r4')).toMatch(/redirected more than 3 times/);
    expect(detail('dl-file')).toMatch(/file: URLs are not fetched/);
    expect(detail('dl-cred')).toMatch(
      /http:\/\/127\.0\.0\.1:\d+\/clean\.png: URLs with a user name or password are not fetched/,
    );
    expectNoSecret(seen);
  });
});

describeWithRedis('url jobs on BullMQ', () => {
  const redis = useRedisServer();

  it('clean, match (quarantined with its evidence), invalid, and a 404 retried then invalid', async () => {
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ redis: redis.url, name: 'url-jobs' });
    const { seen } = await startWorker(queue, { quarantine: { dir: quarantineDir } });
    await queue.enqueue({ scanId: 'bq-clean', source: { kind: 'url', url: url('/clean.png') } });
    await queue.enqueue({ scanId: 'bq-match', source: { kind: 'url', url: url('/known.png') } });
    await queue.enqueue({ scanId: 'bq-exe', source: { kind: 'url', url: url('/not-image') } });
    await queue.enqueue({ scanId: 'bq-404', source: { kind: 'url', url: url('/missing.png') } });
    await until(
      () => seen.scans.length === 2 && seen.matches.length === 1 && seen.rejects.length === 2,
      'four jobs',
    );
    // The 404 went through BullMQ's retry (backoff) once before it was done as invalid.
    expect(seen.rejects.map((r) => r.code)).toEqual(['INVALID_IMAGE', 'INVALID_IMAGE']);
    expect(seen.rejects.find((r) => r.scanId === 'bq-404')?.detail).toMatch(/attempt 2 of 2/);
    expect(seen.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/bq-404.*attempt 1 of 2/),
    ]);
    expect(seen.scans.map((s) => [s.scanId, s.outcome]).sort()).toEqual([
      ['bq-clean', 'clean'],
      ['bq-match', 'match'],
    ]);
    expect(seen.matches[0]).toMatchObject({
      url: url('/known.png'),
      quarantineId: incidentIdOf('bq-match'),
    });
    const { bytes } = await createFileQuarantineStore({ dir: quarantineDir }).get(
      incidentIdOf('bq-match'),
    );
    expect(bytes.equals(known())).toBe(true);
    await until(async () => {
      const depth = await queue.depth();
      return depth.waiting === 0 && depth.active === 0;
    }, 'an empty queue');
    expectNoSecret(seen);
  });
});
