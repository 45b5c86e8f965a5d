/**
 * PDQ work nobody waits for is not done (CPU amplification): an attacker who sends large images
 * and drops each connection, or whose requests outlive their deadline, must not keep the hash
 * pool decoding and hashing them ahead of honest uploads. Real HTTP, a real pool of one worker,
 * real images; the pool's own counts say how many jobs its worker answered.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import { createPdqMatcher, HashPool, pdqHash } from '../../src/pdq/index.js';
import { useEmulator } from '../helpers/emulated.js';
import { appWith, guarded, listen } from '../helpers/express-app.js';
import { multipartBody, sendUpload } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

const emu = useEmulator({ rateLimit: false });
const fixture = (name: string) => readFileSync(new URL(`../fixtures/pdq/${name}`, import.meta.url));
const HONEST = fixture('scene6.jpg');
/** Uploads the attacker sends at once: each fits the pixel budget and the fair share. */
const UPLOADS = 6;
/**
 * A photo scaled to 9 megapixels (a few hundred KB to send, far more to decode and hash), saved at
 * a different quality per upload: no two share a hash job through the guard's dedup cache.
 */
let large: Buffer[];
let listed: string;

beforeAll(async () => {
  const scaled = await sharp(fixture('scene1.png')).resize(3000, 3000).raw().toBuffer();
  const raw = { raw: { width: 3000, height: 3000, channels: 3 as const } };
  large = await Promise.all(
    Array.from({ length: UPLOADS }, (_, i) =>
      sharp(scaled, raw)
        .jpeg({ quality: 70 + i })
        .toBuffer(),
    ),
  );
  listed = (await pdqHash(fixture('scene2-grey.png'), { pool: false })).hash;
});

const pools: HashPool[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
});

/** A fresh pool of one worker (its counts are this test's alone). */
function onePool(): HashPool {
  const pool = new HashPool(1);
  pools.push(pool);
  return pool;
}

const lists = () => [{ name: 'mine', hashes: [listed] }];

/** The three ways PDQ runs in a guard: the `pdq` option alone, `matcher`, PhotoDNA and PDQ both. */
const setups: Array<[string, (pool: HashPool) => GuardOptions]> = [
  ['pdq option', (pool) => ({ pdq: { mode: 'only', lists: lists(), pool, watch: false } })],
  [
    'createPdqMatcher as matcher',
    (pool) => ({ matcher: createPdqMatcher({ lists: lists(), pool, watch: false }) }),
  ],
  [
    'PhotoDNA and PDQ both',
    (pool) => emu.options({ pdq: { mode: 'both', lists: lists(), pool, watch: false } }),
  ],
];

async function start(options: GuardOptions) {
  const guard = photodnaGuard(options);
  const { app, log } = appWith(guarded(guard));
  const server = await listen(app);
  closers.push(async () => {
    await server.close();
    await guard.close();
  });
  return { server, log };
}

describe.each(setups)('PDQ jobs of abandoned uploads (%s)', (_name, optionsFor) => {
  it('uploaders who leave after sending their image have no hash job computed but the one running', async () => {
    const pool = onePool();
    const { server, log } = await start(optionsFor(pool));
    const boundary = 'AbandonB';
    const clients = large.map((data) =>
      sendUpload(
        server.port,
        '/upload',
        multipartBody(boundary, [{ name: 'f', filename: 'big.jpg', type: 'image/jpeg', data }]),
        boundary,
      ),
    );
    // Every upload's job reached the pool: the attacker's requests were all accepted for hashing.
    await until(() => pool.pending + pool.completed === UPLOADS, 'every hash job in the pool');
    const answeredBefore = pool.completed;
    for (const client of clients) client.destroy();
    await until(() => pool.pending === 0, 'the pool idle', 120_000);
    // At most the job the single worker was running when they left; none of those waiting.
    expect(pool.completed - answeredBefore).toBeLessThanOrEqual(1);
    expect(log.runs).toBe(0);

    const honest = await request(server.url).post('/upload').attach('f', HONEST, 'cat.jpg');
    expect(honest.status).toBe(200);
  });
});

it('requests whose deadline passes while their jobs wait for the worker have none computed, and pass nothing', async () => {
  const pool = onePool();
  const { server, log } = await start({
    pdq: { mode: 'only', lists: lists(), pool, watch: false },
    scanTimeoutMs: 100,
  });
  // The one worker busy with a 36-megapixel image (over a second of hashing) as the uploads come.
  const side = 6000;
  const blocker = await sharp({
    create: { width: side, height: side, channels: 3, background: '#808080' },
  })
    .png()
    .toBuffer();
  const busy = pool.runBytes(blocker, 'image/png', side * side, false);
  const answers = await Promise.all(
    large.map((data) => request(server.url).post('/upload').attach('f', data, 'big.jpg')),
  );
  for (const res of answers) {
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
  }
  expect(log.runs).toBe(0);
  await busy;
  await until(() => pool.pending === 0, 'the pool idle', 120_000);
  expect(pool.completed).toBe(1); // the image that kept the worker busy, none of theirs
});
