import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScanQueue } from '../../src/queue/index.js';
import type { ClaimedJob, QueueEngine, ScanJobInput } from '../../src/queue/types.js';
import { useRedisServer } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { until } from '../helpers/until.js';

/**
 * A job's `uploader` is public input (`guard.queue.enqueue`, `openScanQueue().enqueue`) that the
 * worker carries into the `match` event, the quarantine record and an NCMEC report: each field is
 * checked at enqueue, by both engines alike. A refusal names the field and never echoes its value
 * (it may be megabytes); a field of the right kind is cut to its bound instead, never refused
 * for its length, so the guard's own enqueue of a real request never fails for it.
 */

/** A value no error message may carry. */
const HUGE = 'x'.repeat(1_000_000);

const refusals: Array<{ uploader: unknown; message: string }> = [
  { uploader: 'route=/upload', message: 'uploader must be an object' },
  { uploader: { route: 42 }, message: 'uploader.route must be a string' },
  { uploader: { route: '' }, message: 'uploader.route must not be empty' },
  { uploader: { routePattern: [] }, message: 'uploader.routePattern must be a string' },
  { uploader: { method: 7 }, message: 'uploader.method must be a string' },
  {
    uploader: { method: `GET /evil HTTP/1.1 ${HUGE}` },
    message: 'uploader.method must be an HTTP method (a token)',
  },
  { uploader: { ip: { v4: '203.0.113.9' } }, message: 'uploader.ip must be a string' },
  { uploader: { userAgent: 3 }, message: 'uploader.userAgent must be a string' },
  {
    uploader: { network: '203.0.113.9' },
    message: 'uploader.network must be an object { peer, forwardedFor?, forwarded?, derived? }',
  },
  { uploader: { network: {} }, message: 'uploader.network.peer must be a string' },
  {
    uploader: { receivedAt: 1_700_000_000_000 },
    message:
      'uploader.receivedAt must be an ISO 8601 date-time with its time zone (new Date().toISOString()) or a valid Date',
  },
  {
    uploader: { receivedAt: HUGE },
    message:
      'uploader.receivedAt must be an ISO 8601 date-time with its time zone (new Date().toISOString()) or a valid Date',
  },
  // A typo would lose the evidence silently: `userAgnet` is refused, its name cut to 40.
  {
    uploader: { route: '/upload', userAgnet: 'curl/8.5.0' },
    message: 'uploader has unknown keys (userAgnet)',
  },
  {
    uploader: { [HUGE]: 1 },
    message: `uploader has unknown keys (${'x'.repeat(40)}…)`,
  },
  // Every bad field is named, not only the first.
  {
    uploader: { ip: 5, method: '' },
    message: 'uploader.method must be an HTTP method (a token); uploader.ip must be a string',
  },
];

function checks(open: (name: string) => Promise<QueueEngine>) {
  it('refuses a bad uploader field with a TypeError naming it, never its value, and stores nothing', async () => {
    const queue = await open('refused');
    try {
      for (const { uploader, message } of refusals) {
        const job = { source: { kind: 'ref', ref: 'media/1' }, uploader } as ScanJobInput;
        const error = await queue.enqueue(job).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, message).toBeInstanceOf(TypeError);
        expect((error as Error).message).toBe(message);
      }
      expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    } finally {
      await queue.close();
    }
  });

  it('cuts every field past its bound (route, pattern, method, addresses, user agent, forwarding headers), and keeps the rest as given', async () => {
    const queue = await open('cut');
    const longPath = `/upload/${'a'.repeat(5_000)}`;
    const longAgent = `Mozilla/5.0 ${'b'.repeat(20_000)}`;
    const longChain = `203.0.113.1, ${'198.51.100.2, '.repeat(100)}`;
    // An IP address to `net.isIP` (a zone id is any name): what a trusted proxy's header derives.
    const zoned = `fe80::1%${'z'.repeat(200)}`;
    const longPattern = `/upload/${':name/'.repeat(400)}`;
    const longMethod = `X-${'M'.repeat(100)}`;
    await queue.enqueue({
      scanId: 'long',
      source: { kind: 'ref', ref: 'media/long' },
      uploader: {
        route: longPath,
        routePattern: longPattern,
        method: longMethod,
        ip: zoned,
        userAgent: longAgent,
        network: { peer: zoned, forwardedFor: longChain, forwarded: longChain, derived: zoned },
        receivedAt: '2025-03-01T12:00:00Z',
      },
    });
    await queue.enqueue({
      scanId: 'short',
      source: { kind: 'ref', ref: 'media/short' },
      uploader: { route: '/avatar', ip: '203.0.113.7', userAgent: 'curl/8.5.0' },
    });
    const claimed = new Map<string, ClaimedJob>();
    const consumer = queue.consume(
      async (job) => {
        claimed.set(job.scanId, job);
        return { done: true, outcome: 'clean' };
      },
      { concurrency: 2 },
    );
    try {
      await until(() => claimed.size === 2, 'the two jobs claimed');
    } finally {
      await consumer.close();
      await queue.close();
    }
    expect(claimed.get('long')?.uploader).toEqual({
      route: longPath.slice(0, 2_048),
      routePattern: longPattern.slice(0, 1_024),
      method: longMethod.slice(0, 32),
      ip: zoned.slice(0, 64),
      userAgent: longAgent.slice(0, 1_024),
      network: {
        peer: zoned.slice(0, 64),
        forwardedFor: longChain.slice(0, 512),
        forwarded: longChain.slice(0, 512),
        derived: zoned.slice(0, 64),
      },
      receivedAt: '2025-03-01T12:00:00.000Z',
    });
    expect(claimed.get('short')?.uploader).toMatchObject({
      route: '/avatar',
      method: 'POST',
      ip: '203.0.113.7',
      userAgent: 'curl/8.5.0',
    });
  });
}

describe('enqueue: uploader checked (embedded)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pdg-uploader-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  checks((name) => openScanQueue({ dir: join(root, name) }));
});

describeWithRedis('enqueue: uploader checked (BullMQ)', () => {
  const redis = useRedisServer();
  checks((name) => openScanQueue({ redis: redis.url, name: `uploader-${name}` }));
});
