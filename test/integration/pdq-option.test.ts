import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type GuardOptions,
  InvalidOptionsError,
  type MatchEvent,
  photodnaGuard,
  type ScanEvent,
} from '../../src/index.js';
import { pdqHash } from '../../src/pdq/index.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { appWith, guarded, listen } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';

/**
 * The guard's `pdq` option with real PDQ hashing and a real list file: PDQ alone without a key,
 * PhotoDNA (the emulator) and PDQ together, PDQ as the fallback; edited copies made with sharp.
 */
const emu = useEmulator({ rateLimit: false });
const scratch = mkdtempSync(join(tmpdir(), 'pdg-pdq-option-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const fixture = (name: string) => readFileSync(new URL(`../fixtures/pdq/${name}`, import.meta.url));
const LISTED = fixture('scene6.jpg');
const OTHER = fixture('scene1.png');
const listFile = join(scratch, 'list.txt');
let listedHash = '';
let savedKey: string | undefined;

beforeAll(async () => {
  listedHash = (await pdqHash(LISTED, { pool: false })).hash;
  writeFileSync(listFile, `# my list\npdq ${listedHash} 100 scene6.jpg\n`);
  savedKey = process.env.PHOTODNA_API_KEY;
  delete process.env.PHOTODNA_API_KEY;
});
afterAll(() => {
  if (savedKey !== undefined) process.env.PHOTODNA_API_KEY = savedKey;
});

const pdqOption = (mode?: 'both' | 'fallback' | 'only') => ({
  lists: { mine: listFile },
  pool: false as const,
  watch: false,
  ...(mode ? { mode } : {}),
});

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

async function start(options: GuardOptions) {
  const guard = photodnaGuard(options);
  const scans: ScanEvent[] = [];
  const matches: MatchEvent[] = [];
  guard.on('scan', (e) => scans.push(e)).on('match', (e) => matches.push(e));
  const { app } = appWith(guarded(guard));
  const server = await listen(app);
  cleanup.push(async () => {
    await server.close();
    await guard.close();
  });
  const send = (bytes: Buffer, name = 'f.png') =>
    request(server.url).post('/upload').attach('f', bytes, name);
  return { send, scans, matches };
}

describe('pdq option', () => {
  it('PDQ alone needs no key: an edited copy of a listed image is rejected, another image passes with its PDQ facts', async () => {
    const { send, scans, matches } = await start({ pdq: pdqOption() });
    const copy = await sharp(LISTED).resize(300).jpeg({ quality: 70 }).toBuffer();
    const rejected = await send(copy, 'copy.jpg');
    expect(rejected.status).toBe(422);
    expect(rejected.body.error.code).toBe('INVALID_IMAGE'); // a match looks like an unreadable image
    expect(matches[0]?.matchFlags[0]).toMatchObject({
      source: 'mine',
      algorithm: 'pdq',
      matchId: listedHash,
      matchDistance: expect.any(Number),
    });
    expect(matches[0]?.matchFlags[0]?.matchDistance).toBeLessThanOrEqual(31);
    expect(matches[0]?.file.pdq?.hash).toMatch(/^[0-9a-f]{64}$/);

    const passed = await send(OTHER, 'other.png');
    expect(passed.status).toBe(200);
    expect(passed.body.photodna.status).toBe('clean');
    const expected = await pdqHash(OTHER, { pool: false });
    expect(passed.body.photodna.files[0].pdq).toEqual({
      hash: expected.hash,
      quality: expected.quality,
    });
    expect(scans.at(-1)?.file.pdq?.hash).toBe(expected.hash);
  });

  it('PhotoDNA and PDQ together: each back end catches its own, the flags say which', async () => {
    const dir = mkdtempSync(join(scratch, 'q-'));
    const { send, matches } = await start(
      emu.options({ pdq: pdqOption(), policy: 'quarantine', quarantine: { dir } }),
    );
    expect((await send(knownImage(), 'photodna.png')).status).toBe(422);
    expect((await send(LISTED, 'pdq.jpg')).status).toBe(422);
    const clean = await send(OTHER, 'clean.png');
    expect(clean.body.photodna.status).toBe('clean');
    expect(clean.body.photodna.files[0].trackingId).toMatch(/^1_photodna_/);
    expect(clean.body.photodna.files[0].pdq.quality).toBeGreaterThanOrEqual(50);

    expect(matches.map((m) => [m.file.originalname, m.matchFlags.map((f) => f.algorithm)])).toEqual(
      [
        ['photodna.png', ['photodna']],
        ['pdq.jpg', ['pdq']],
      ],
    );
    const records = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.json'))
      .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
    expect(records).toHaveLength(2);
    for (const record of records) expect(record.pdq.hash).toMatch(/^[0-9a-f]{64}$/);
    const pdqRecord = records.find((r) => r.originalname === 'pdq.jpg');
    expect(pdqRecord.pdq.hash).toBe(listedHash);
    expect(pdqRecord.matchFlags[0]).toMatchObject({
      source: 'mine',
      algorithm: 'pdq',
      matchDistance: 0,
    });
  });

  it("PDQ as the fallback: PhotoDNA down under failMode 'open' still blocks listed images; others pass as unchecked", async () => {
    const { send } = await start({
      apiKey: 'down-key',
      baseUrl: 'http://127.0.0.1:9',
      client: { retry: { maxAttempts: 1 } },
      failMode: 'open',
      pdq: pdqOption('fallback'),
    });
    expect((await send(LISTED, 'listed.jpg')).status).toBe(422);
    const other = await send(OTHER, 'other.png');
    expect(other.status).toBe(200);
    expect(other.body.photodna.status).toBe('unchecked');
    expect(other.body.photodna.files[0].pdq.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a list reloaded with a new hash is answered at once: results cached before the reload are forgotten', async () => {
    const reloading = join(scratch, 'reloading.txt');
    writeFileSync(reloading, `pdq ${listedHash}\n`);
    const sizes: number[] = [];
    const { send, scans } = await start({
      pdq: {
        lists: { grows: reloading },
        pool: false,
        pollIntervalMs: 20,
        debounceMs: 0,
        onReload: ({ size }) => sizes.push(size),
      },
    });
    await until(() => sizes.length > 0, 'the list loaded');
    expect((await send(OTHER, 'a.png')).status).toBe(200);
    expect((await send(OTHER, 'b.png')).status).toBe(200);
    expect(scans.map((e) => e.cached)).toEqual([false, true]); // the cache answers the second

    const other = (await pdqHash(OTHER, { pool: false })).hash;
    writeFileSync(reloading, `pdq ${listedHash}\npdq ${other}\n`);
    await until(() => sizes.includes(2), 'the list reloaded with two hashes');
    const res = await send(OTHER, 'c.png');
    expect(res.status).toBe(422);
    expect(scans.at(-1)).toMatchObject({ outcome: 'match', cached: false });
  });

  it('a missing key with pdq.mode both fails at startup, naming apiKey', () => {
    expect(() => photodnaGuard({ pdq: pdqOption('both') })).toThrow(InvalidOptionsError);
    expect(() => photodnaGuard({ pdq: pdqOption('both') })).toThrow(/apiKey/);
  });

  it('the pdq option is strict', () => {
    expect(() => photodnaGuard({ pdq: { ...pdqOption(), treshold: 20 } as never })).toThrow(
      /pdq\.treshold/,
    );
    expect(() =>
      photodnaGuard({ pdq: { ...pdqOption('only'), mode: 'sometimes' } as never }),
    ).toThrow(/pdq\.mode/);
    expect(() => photodnaGuard({ pdq: pdqOption('only'), hasher: async () => 'AAAA' })).toThrow(
      /pdq\.mode/,
    );
  });
});
