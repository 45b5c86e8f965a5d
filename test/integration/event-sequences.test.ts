/**
 * The core emits every event (docs/events.md), so the same situation must emit the same events
 * in the same order on every adapter: each case runs on each adapter of the shared suite and the
 * recorded sequences are compared, adapter by adapter, with the documented ones.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { GuardError, type GuardOptions, type Matcher } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, type RouteSpec } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { knownImage } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

const KNOWN = knownImage();
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const scratch = mkdtempSync(join(tmpdir(), 'pdg-sequences-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const downMatcher: Matcher = {
  async match() {
    throw new GuardError('SCAN_UNAVAILABLE', { reason: 'server-error', detail: 'down' });
  },
};

/** Matches the known image; fails every other file, with `failure`. */
function matchOrFail(failure: () => GuardError): Matcher {
  return {
    async match({ file }) {
      if (file.sha256 !== sha(KNOWN)) throw failure();
      return {
        isMatch: true,
        trackingId: 't',
        matchFlags: [{ source: 'Test', violations: ['A1'] }],
      };
    },
  };
}
const outage = () => new GuardError('SCAN_UNAVAILABLE', { reason: 'server-error', detail: 'down' });

interface Case {
  name: string;
  options: () => GuardOptions;
  routes?: RouteSpec[];
  send: (url: string) => request.Test;
  /** Whether the case is about parsing, which @fastify/multipart does in 'scan' mode. */
  parsing?: true;
  /** The documented sequence (docs/events.md) and the status answered. */
  expected: { events: string[]; status: number };
}

const two = (url: string) =>
  request(url)
    .post('/upload')
    .attach('a', png(200, 200, 7), 'a.png')
    .attach('b', KNOWN, 'b.png');

const cases: Case[] = [
  {
    name: 'clean upload',
    options: () => ({ matcher: new RecordingMatcher() }),
    send: (url) => request(url).post('/upload').attach('a', png(), 'a.png'),
    expected: { events: ['scan:clean'], status: 200 },
  },
  {
    name: 'bad file type',
    options: () => ({ matcher: new RecordingMatcher() }),
    send: (url) => request(url).post('/upload').attach('a', Buffer.from('not an image'), 'a.png'),
    expected: { events: ['reject:UNSUPPORTED_MEDIA_TYPE'], status: 415 },
  },
  {
    name: 'bad file type, rejectionBody hook throws',
    options: () => ({
      matcher: new RecordingMatcher(),
      rejectionBody: () => {
        throw new Error('host bug');
      },
    }),
    send: (url) => request(url).post('/upload').attach('a', Buffer.from('not an image'), 'a.png'),
    expected: { events: ['error:hook', 'reject:UNSUPPORTED_MEDIA_TYPE'], status: 415 },
  },
  {
    name: 'limits exceeded',
    options: () => ({ matcher: new RecordingMatcher(), limits: { maxFiles: 1 } }),
    send: two,
    parsing: true,
    expected: { events: ['reject:LIMIT_EXCEEDED'], status: 413 },
  },
  {
    name: 'malformed body',
    options: () => ({ matcher: new RecordingMatcher() }),
    send: (url) =>
      request(url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=b')
        .send(multipartBody('b', [{ name: 'a', filename: 'a.png', data: png() }]).subarray(0, 300)),
    parsing: true,
    expected: { events: ['reject:MALFORMED_MULTIPART'], status: 400 },
  },
  {
    name: 'match under block',
    options: () => ({ matcher: new RecordingMatcher([sha(KNOWN)]) }),
    send: two,
    expected: {
      events: ['scan:clean', 'scan:match', 'match:block', 'reject:UPLOAD_REJECTED'],
      status: 422,
    },
  },
  {
    name: 'match under quarantine',
    options: () => ({
      matcher: new RecordingMatcher([sha(KNOWN)]),
      policy: 'quarantine',
      quarantine: { dir: mkdtempSync(join(scratch, 'q-')) },
    }),
    send: two,
    expected: {
      events: [
        'scan:clean',
        'scan:match',
        'quarantine',
        'match:quarantine',
        'reject:UPLOAD_REJECTED',
      ],
      status: 422,
    },
  },
  {
    name: 'match under flag (route override)',
    options: () => ({ matcher: new RecordingMatcher([sha(KNOWN)]) }),
    routes: [{ path: '/upload', use: (g) => g.route({ policy: 'flag' }) }],
    send: two,
    expected: { events: ['scan:clean', 'scan:match', 'match:flag'], status: 200 },
  },
  {
    name: "service down, failMode 'closed'",
    options: () => ({ matcher: downMatcher }),
    send: (url) => request(url).post('/upload').attach('a', png(), 'a.png'),
    expected: { events: ['scan:unchecked', 'error:scan', 'reject:SCAN_UNAVAILABLE'], status: 503 },
  },
  {
    name: 'match under block, another file unchecked',
    options: () => ({ matcher: matchOrFail(outage) }),
    send: two,
    expected: {
      events: [
        'scan:match',
        'scan:unchecked',
        'error:scan',
        'match:block',
        'reject:UPLOAD_REJECTED',
      ],
      status: 422,
    },
  },
  {
    name: 'a file the service refused, another unchecked',
    options: () => ({
      matcher: {
        async match({ file }) {
          throw file.sha256 === sha(KNOWN)
            ? new GuardError('INVALID_IMAGE', { detail: '3206' })
            : outage();
        },
      },
    }),
    send: two,
    expected: {
      events: ['scan:unchecked', 'scan:unchecked', 'error:scan', 'reject:INVALID_IMAGE'],
      status: 422,
    },
  },
  {
    name: "service down, failMode 'open'",
    options: () => ({ matcher: downMatcher, failMode: 'open' }),
    send: (url) => request(url).post('/upload').attach('a', png(), 'a.png'),
    expected: { events: ['scan:unchecked', 'error:scan'], status: 200 },
  },
];

/** Runs one case on one adapter; resolves to what happened, in order. */
async function run(adapter: Adapter, c: Case) {
  const server = await adapter.start(c.options(), c.routes ?? [{ path: '/upload' }], {
    global: c.routes === undefined,
  });
  const events: string[] = [];
  server.guard
    .on('scan', (e) => events.push(`scan:${e.outcome}`))
    .on('quarantine', () => events.push('quarantine'))
    .on('match', (e) => events.push(`match:${e.policy}`))
    .on('error', (e) => events.push(`error:${e.stage}`))
    .on('reject', (e) => events.push(`reject:${e.code}`));
  try {
    const res = await c.send(server.url);
    // Events come before the answer (match and reject included), so the order is complete here;
    // scan events of concurrent files are sorted, as their order between files is free.
    return { events: sortScans(events), status: res.status };
  } finally {
    await server.close();
  }
}

function sortScans(events: string[]): string[] {
  const scans = events.filter((e) => e.startsWith('scan:')).sort();
  return events.map((e) => (e.startsWith('scan:') ? (scans.shift() as string) : e));
}

describe('event sequences are the same on every adapter', () => {
  it.each(cases)('$name', async (c) => {
    // The scan() entries too (the host's parser), where parsing is not the case's subject.
    const all = c.parsing ? adapters : [...adapters, ...scanAdapters];
    const seen: Record<string, { events: string[]; status: number }> = {};
    for (const adapter of all) seen[adapter.name] = await run(adapter, c);
    const expected = Object.fromEntries(all.map((a) => [a.name, c.expected]));
    expect(seen).toEqual(expected);
  });
});
