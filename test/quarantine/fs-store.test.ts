import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  lchown,
  mkdir,
  readdir,
  readFile,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOptionsError, QuarantineError } from '../../src/errors.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { isQuarantineStore } from '../../src/quarantine/types.js';
import { jpg } from '../fixtures/images.js';
import { factsOf, makeIncident, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const twoMinutesAgo = () => new Date(Date.now() - 120_000);

describe('file modes', () => {
  let previousUmask = 0;
  beforeEach(() => {
    previousUmask = process.umask(0); // the most permissive umask: modes must still be private
  });
  afterEach(() => {
    process.umask(previousUmask);
  });

  it('creates the directory 0700 and every file 0600 even with umask 0', async () => {
    const dir = join(await tempDir(), 'nested', 'quarantine');
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    await store.markReported(incident.id, { status: 'failed', error: 'boom' });
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(dirname(dir))).toBe(0o700);
    const names = (await readdir(dir)).sort();
    expect(names).toEqual([`${incident.id}.json`, `${incident.id}.png`]);
    for (const name of names) expect(await mode(join(dir, name))).toBe(0o600);
  });

  it('tightens an existing directory that others could read', async () => {
    const dir = join(await tempDir(), 'loose');
    await mkdir(dir);
    await chmod(dir, 0o755);
    const store = createFileQuarantineStore({ dir });
    expect(await store.list()).toEqual([]);
    expect(await mode(dir)).toBe(0o700);
  });

  // Only root can make another user's directory (chown) and could write evidence into it.
  it.skipIf(process.getuid?.() !== 0)(
    "refuses a directory another user owns, also through a symlink planted in the store's place",
    async () => {
      const base = await tempDir();
      const foreign = join(base, 'foreign');
      await mkdir(foreign, { mode: 0o777 });
      await chown(foreign, 65534, 65534); // nobody: could list, delete or swap the evidence
      const planted = join(base, 'quarantine');
      await symlink(foreign, planted);
      for (const dir of [foreign, planted]) {
        const store = createFileQuarantineStore({ dir });
        const { incident, bytes } = makeIncident();
        await expect(store.put(incident, bytes)).rejects.toThrow(/owned by uid 65534/);
        await expect(store.list()).rejects.toThrow(QuarantineError);
      }
      expect(await readdir(foreign)).toEqual([]);
      expect(await mode(foreign), 'not ours to change').toBe(0o777);
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'refuses a symlink another user owns in its place, even to a private directory of ours',
    async () => {
      const base = await tempDir();
      const ours = join(base, 'ours');
      await mkdir(ours, { mode: 0o700 });
      const planted = join(base, 'quarantine');
      await symlink(ours, planted);
      await lchown(planted, 65534, 65534); // its owner may point it elsewhere at any time
      const store = createFileQuarantineStore({ dir: planted });
      const { incident, bytes } = makeIncident();
      await expect(store.put(incident, bytes)).rejects.toThrow(/symlink owned by uid 65534/);
      expect(await readdir(ours)).toEqual([]);
    },
  );
});

describe('put and the record', () => {
  it('writes exactly these record fields, and returns the same record', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    const returned = await store.put(incident, bytes);
    const onDisk = JSON.parse(await readFile(join(dir, `${incident.id}.json`), 'utf8'));
    expect(onDisk).toStrictEqual({
      version: 1,
      id: incident.id,
      receivedAt: '2025-03-01T12:00:00.000Z',
      route: '/upload',
      method: 'POST',
      ip: '203.0.113.7',
      userAgent: 'test-agent/1.0',
      field: 'avatar',
      originalname: 'holiday.png',
      mimetype: 'image/png',
      size: bytes.length,
      width: 200,
      height: 200,
      sha256: incident.file.sha256,
      trackingId: '1_photodna_test-tracking',
      matchFlags: [{ source: 'Test', violations: ['A1'], matchDistance: 179, matchId: '104149' }],
      policy: 'quarantine',
      preserveUntil: '2026-03-01T12:00:00.000Z',
      preserveDays: 365,
      report: { status: 'not-reported' },
    });
    expect(returned).toStrictEqual(onDisk);
    expect(await readFile(join(dir, `${incident.id}.png`))).toEqual(bytes);
  });

  it('computes preserveUntil from preserveDays and omits an absent user agent', async () => {
    const store = createFileQuarantineStore({ dir: await tempDir(), preserveDays: 30 });
    const { incident, bytes } = makeIncident({ userAgent: undefined });
    delete incident.userAgent;
    const record = await store.put(incident, bytes);
    expect(record.preserveUntil).toBe('2025-03-31T12:00:00.000Z');
    expect('userAgent' in record).toBe(false);
  });

  it('names the image after the sniffed type', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const bytes = jpg();
    const { incident } = makeIncident({ file: factsOf(bytes, {}, 'image/jpeg') });
    await store.put(incident, bytes);
    expect((await readdir(dir)).sort()).toEqual([`${incident.id}.jpg`, `${incident.id}.json`]);
  });

  it('refuses bytes that do not match the file facts, and an id stored twice', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    const altered = Buffer.from(bytes);
    altered[100] = (altered[100] ?? 0) ^ 0xff;
    await expect(store.put(incident, altered)).rejects.toThrow(/SHA-256/);
    await store.put(incident, bytes);
    await expect(store.put(incident, bytes)).rejects.toThrow(QuarantineError);
    expect(await readdir(dir)).toHaveLength(2);
  });

  it('fails with a QuarantineError when the directory cannot be used', async () => {
    const file = join(await tempDir(), 'not-a-dir');
    await writeFile(file, 'x');
    const store = createFileQuarantineStore({ dir: file });
    const { incident, bytes } = makeIncident();
    await expect(store.put(incident, bytes)).rejects.toThrow(QuarantineError);
  });

  it('validates its options', () => {
    expect(() => createFileQuarantineStore({ dir: '' })).toThrow(InvalidOptionsError);
    expect(() => createFileQuarantineStore({ dir: '/x', preserveDays: 0 })).toThrow(/preserveDays/);
    expect(() => createFileQuarantineStore({ dir: '/x', preserveDays: Number.NaN })).toThrow(
      InvalidOptionsError,
    );
  });

  it('bounds preserveDays at 36,500 days (more, near 1e8, made every put fail), and keeps that long', async () => {
    for (const preserveDays of [1e8, 36_501, Number.POSITIVE_INFINITY]) {
      // Before: accepted, and every put then failed on an invalid preserveUntil date.
      expect(() => createFileQuarantineStore({ dir: '/x', preserveDays })).toThrow(
        /^quarantine\.preserveDays: Expected more than 0 and at most 36500 days \(a hundred years\), got /,
      );
      expect(() => createFileQuarantineStore({ dir: '/x', preserveDays })).toThrow(
        InvalidOptionsError,
      );
    }
    const store = createFileQuarantineStore({ dir: await tempDir(), preserveDays: 36_500 });
    const { incident, bytes } = makeIncident({ receivedAt: new Date('2025-03-01T12:00:00.000Z') });
    const record = await store.put(incident, bytes);
    expect(record.preserveUntil).toBe('2125-03-01T12:00:00.000Z');
  });
});

describe('path safety', () => {
  it('keeps a traversal file name as data: nothing is written outside the store', async () => {
    const root = await tempDir();
    const dir = join(root, 'a', 'b', 'store');
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    incident.file.originalname = '../../etc/passwd.png';
    const record = await store.put(incident, bytes);
    expect(record.originalname).toBe('../../etc/passwd.png');
    expect((await readdir(dir)).sort()).toEqual([`${incident.id}.json`, `${incident.id}.png`]);
    expect(await readdir(join(root, 'a'))).toEqual(['b']);
    expect(await readdir(join(root, 'a', 'b'))).toEqual(['store']);
    expect((await store.get(incident.id)).bytes).toEqual(bytes);
  });

  it('refuses ids that could escape the directory', async () => {
    const root = await tempDir();
    const store = createFileQuarantineStore({ dir: join(root, 'store') });
    const victim = join(root, 'victim.json');
    await writeFile(victim, '{}');
    const bad = ['../victim', '..', 'a/b', '', 'x'.repeat(65), 'id.json', '..%2f', 'a\\b', 'a\0b'];
    for (const id of bad) {
      const { incident, bytes } = makeIncident({ id });
      await expect(store.put(incident, bytes), id).rejects.toThrow(/invalid incident id/);
      await expect(store.get(id), id).rejects.toThrow(QuarantineError);
      await expect(store.getRecord(id), id).rejects.toThrow(/invalid incident id/);
      await expect(store.markReported(id, { status: 'reported' }), id).rejects.toThrow(
        QuarantineError,
      );
      await expect(store.release(id), id).rejects.toThrow(/invalid incident id/);
    }
    expect(await readFile(victim, 'utf8')).toBe('{}');
    expect(await readdir(join(root, 'store'))).toEqual([]);
  });
});

describe('files the store never writes', () => {
  it('skips FIFOs and symlinks named like records or locks instead of blocking on them', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    // Four FIFOs would hold all four of libuv's file threads if opened blocking, and with them
    // every file operation of the process.
    for (let i = 0; i < 4; i++) execFileSync('mkfifo', [join(dir, `fifo-${i}.json`)]);
    execFileSync('mkfifo', [join(dir, '.lock-fifo-lock')]);
    await symlink(join(dir, `${incident.id}.json`), join(dir, 'linked.json'));
    const fresh = createFileQuarantineStore({ dir }); // opens anew: stale locks are swept
    expect((await fresh.list()).map((r) => r.id)).toEqual([incident.id]);
    await expect(fresh.getRecord('fifo-0')).rejects.toThrow(/not a regular file/);
    await expect(fresh.getRecord('linked')).rejects.toThrow(/not a regular file/);
    const other = makeIncident({}, 2);
    await fresh.put(other.incident, other.bytes);
    expect((await fresh.get(other.incident.id)).bytes).toEqual(other.bytes);
    // The FIFO lock was no lock of ours: swept as stale.
    expect(await readdir(dir)).not.toContain('.lock-fifo-lock');
  });
});

describe('get', () => {
  it('returns the bytes and detects tampering, truncation, a missing image and unknown ids', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    const got = await store.get(incident.id);
    expect(got.bytes).toEqual(bytes);
    expect(got.record.id).toBe(incident.id);

    const image = join(dir, `${incident.id}.png`);
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 0x01;
    await writeFile(image, tampered);
    await expect(store.get(incident.id)).rejects.toThrow(/integrity check failed/);
    await writeFile(image, bytes.subarray(0, 1000));
    await expect(store.get(incident.id)).rejects.toThrow(/integrity check failed/);
    await writeFile(image, bytes);
    expect((await store.get(incident.id)).bytes).toEqual(bytes);
    await unlink(image);
    await expect(store.get(incident.id)).rejects.toThrow(/image of incident .* is missing/);

    await expect(store.get('00000000-0000-0000-0000-000000000000')).rejects.toThrow(
      /unknown incident/,
    );
  });

  it('never puts image bytes into an error message', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    await writeFile(join(dir, `${incident.id}.png`), Buffer.concat([bytes, Buffer.from('x')]));
    const error = await store.get(incident.id).catch((e: Error) => e);
    expect(error).toBeInstanceOf(QuarantineError);
    expect((error as Error).message.length).toBeLessThan(200);
    expect((error as Error).message).not.toContain(bytes.subarray(0, 30).toString('base64'));
  });
});

describe('list', () => {
  it('returns complete incidents only, oldest first', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const times = ['2025-03-02T00:00:00Z', '2025-03-01T00:00:00Z', '2025-03-03T00:00:00Z'];
    const ids: string[] = [];
    for (const [i, time] of times.entries()) {
      const { incident, bytes } = makeIncident({ receivedAt: new Date(time) }, i + 1);
      ids.push(incident.id);
      await store.put(incident, bytes);
    }
    // Things that are not complete incidents: a temp file, an image without record, bad records.
    const orphan = makeIncident();
    await writeFile(join(dir, `${orphan.incident.id}.png`), orphan.bytes, { mode: 0o600 });
    await writeFile(join(dir, '.tmp-0123456789abcdef'), '{"version":1}', { mode: 0o600 });
    await writeFile(join(dir, '11111111-2222-3333-4444-555555555555.json'), '{"version":1,', {
      mode: 0o600,
    });
    await writeFile(join(dir, 'other-id.json'), JSON.stringify({ version: 1, id: 'mismatch' }));

    const listed = await store.list();
    expect(listed.map((r) => r.id)).toEqual([ids[1], ids[0], ids[2]]);
    expect(await store.incomplete()).toEqual([]); // the orphan is too young to call incomplete
    await utimes(join(dir, `${orphan.incident.id}.png`), twoMinutesAgo(), twoMinutesAgo());
    expect(await store.incomplete()).toEqual([orphan.incident.id]);
  });

  it('removes stale temp files when a store opens, and leaves young ones (another writer)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '.tmp-old'), 'half an image');
    await writeFile(join(dir, '.tmp-young'), 'a write in progress');
    await utimes(join(dir, '.tmp-old'), twoMinutesAgo(), twoMinutesAgo());
    const store = createFileQuarantineStore({ dir });
    expect(await store.list()).toEqual([]);
    expect(await readdir(dir)).toEqual(['.tmp-young']);
    await utimes(join(dir, '.tmp-young'), twoMinutesAgo(), twoMinutesAgo());
    expect(await store.list()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('list() sweeps what crashed writers left, from one reading of the directory', () => {
  it('removes stale temps and abandoned locks made after the store opened, and lists the records', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    // Left by a writer killed mid-write, and a lock older than the stale age.
    await writeFile(join(dir, '.tmp-crashed'), 'half an image');
    await utimes(join(dir, '.tmp-crashed'), twoMinutesAgo(), twoMinutesAgo());
    await writeFile(
      join(dir, `.lock-${incident.id}`),
      JSON.stringify({ pid: 1, host: 'a-host-long-gone', token: 't' }),
    );
    await utimes(join(dir, `.lock-${incident.id}`), twoMinutesAgo(), twoMinutesAgo());
    expect((await store.list()).map((record) => record.id)).toEqual([incident.id]);
    expect((await readdir(dir)).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});

describe('updates', () => {
  it('records report outcomes with history, and extends preservation from the report', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 365 });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    const failed = { status: 'failed' as const, at: '2025-03-02T00:00:00.000Z', error: 'timeout' };
    await store.markReported(incident.id, failed);
    const reported = {
      status: 'reported' as const,
      at: '2025-06-01T00:00:00.000Z',
      trackingId: 'report-1',
      statusCode: 3000,
      isTest: true,
    };
    const record = await store.markReported(incident.id, reported);
    expect(record.report).toEqual(reported);
    expect(record.reportHistory).toEqual([failed]);
    expect(record.preserveUntil).toBe('2026-06-01T00:00:00.000Z');
    expect(await store.getRecord(incident.id)).toStrictEqual(record);
    await expect(store.markReported(incident.id, { status: 'nope' } as never)).rejects.toThrow(
      /unknown report status/,
    );
  });

  it('keeps evidence a whole year across a leap day: 365 days never end before the same date a year later', async () => {
    const store = createFileQuarantineStore({ dir: await tempDir() });
    // 2027-03-01 + 365 days is 2028-02-29: a day short of one year.
    const { incident, bytes } = makeIncident({ receivedAt: new Date('2027-03-01T12:00:00.000Z') });
    expect((await store.put(incident, bytes)).preserveUntil).toBe('2028-03-01T12:00:00.000Z');
    const reported = await store.markReported(incident.id, {
      status: 'reported',
      at: '2027-06-01T00:00:00.000Z',
    });
    expect(reported.preserveUntil).toBe('2028-06-01T00:00:00.000Z');
    // Where no leap day falls between, 365 days is the year.
    const later = makeIncident({ receivedAt: new Date('2028-03-01T12:00:00.000Z') }, 2);
    expect((await store.put(later.incident, later.bytes)).preserveUntil).toBe(
      '2029-03-01T12:00:00.000Z',
    );
  });

  it("a report recorded through a store opened with a shorter period keeps the record's own", async () => {
    const dir = await tempDir();
    const server = createFileQuarantineStore({ dir, preserveDays: 730 });
    const { incident, bytes } = makeIncident();
    expect((await server.put(incident, bytes)).preserveDays).toBe(730);
    // The reviewer's tool opens the directory with the default (365).
    const reviewer = createFileQuarantineStore({ dir });
    const record = await reviewer.markReported(incident.id, {
      status: 'reported',
      at: '2025-06-01T00:00:00.000Z',
    });
    expect(record.preserveUntil).toBe('2027-06-01T00:00:00.000Z');
  });

  it('serializes concurrent updates of one incident: none is lost', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    await Promise.all([
      store.markReported(incident.id, { status: 'failed', at: '2025-03-01T13:00:00.000Z' }),
      store.release(incident.id, 'false positive'),
      store.markReported(incident.id, {
        status: 'reported',
        at: '2025-03-01T14:00:00.000Z',
        trackingId: 't',
      }),
    ]);
    const record = await store.getRecord(incident.id);
    expect(record.report.status).toBe('reported');
    expect(record.reportHistory?.map((r) => r.status)).toEqual(['failed']);
    expect(record.released?.reason).toBe('false positive');
    expect((await readdir(dir)).sort()).toEqual([`${incident.id}.json`, `${incident.id}.png`]);
  });

  it("ends claimReport's wait behind this process's other update of the record when its signal aborts", async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    // A live holder (this process, by its pid) of the record's lock: never broken, waited for.
    const lockFile = join(dir, `.lock-${incident.id}`);
    await writeFile(lockFile, JSON.stringify({ pid: process.pid, host: hostname(), token: 't' }));
    let released = false;
    const release = store.release(incident.id, 'reviewed').finally(() => {
      released = true;
    });
    const stop = new AbortController();
    const claim = { token: 'c1', until: new Date(Date.now() + 60_000).toISOString() };
    const claiming = store.claimReport(incident.id, claim, { signal: stop.signal });
    stop.abort();
    // Before: it waited in the in-process queue for `release` (up to its 15 s lock timeout).
    await expect(claiming).rejects.toBe(stop.signal.reason);
    expect(released, 'release still waits for the lock').toBe(false);
    await unlink(lockFile);
    expect((await release).released?.reason).toBe('reviewed');
    expect((await store.getRecord(incident.id)).reporting, 'nothing claimed').toBeUndefined();
  });

  it('keeps the first release', async () => {
    const store = createFileQuarantineStore({ dir: await tempDir() });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    const first = await store.release(incident.id, 'reviewed');
    const second = await store.release(incident.id, 'again');
    expect(second.released).toEqual(first.released);
    expect(first.released?.reason).toBe('reviewed');
    expect(Date.parse(first.released?.at ?? '')).not.toBeNaN();
    await expect(store.release('00000000-0000-0000-0000-000000000000')).rejects.toThrow(/unknown/);
  });
});

it('isQuarantineStore recognises stores by their methods', async () => {
  expect(isQuarantineStore(createFileQuarantineStore({ dir: await tempDir() }))).toBe(true);
  expect(isQuarantineStore({ put() {}, get() {} })).toBe(false);
  expect(isQuarantineStore(null)).toBe(false);
  expect(isQuarantineStore({ dir: '/tmp' })).toBe(false);
});
