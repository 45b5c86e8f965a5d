import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type GuardOptions,
  type MatchEvent,
  PhotoDnaClient,
  photodnaGuard,
  type ScanEvent,
} from '../../src/index.js';
import { type ComposeMode, composeMatchers } from '../../src/matchers/compose.js';
import type { Matcher, MatchRequest, MatchResult } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { appWith, guarded, listen } from '../helpers/express-app.js';

/**
 * `composeMatchers`: PhotoDNA (the real client against the emulator) with a second back end in
 * the PDQ seat, through the guard over HTTP. The second back end here is a small in-process list
 * keyed by SHA-256 that answers PDQ-shaped facts: it stands in for the plug-in, the composition
 * and the guard are the code under test. The PDQ back end itself is tested in
 * `pdq-option.test.ts`.
 */
const emu = useEmulator({ rateLimit: false });
const scratch = mkdtempSync(join(tmpdir(), 'pdg-compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let seed = 7000;
const fresh = () => png(200, 200, seed++);

class ListBackEnd implements Matcher {
  readonly asked: string[] = [];
  failing = false;
  constructor(readonly known: Set<string>) {}
  async match({ file }: MatchRequest): Promise<MatchResult> {
    this.asked.push(file.originalname);
    if (this.failing) throw new Error('the list back end is down');
    const isMatch = this.known.has(file.sha256);
    return {
      isMatch,
      trackingId: `pdq_${file.sha256.slice(0, 8)}`,
      matchFlags: isMatch ? [{ source: 'mine', violations: [], matchDistance: 3 }] : [],
      pdq: { hash: pdqOf(file.sha256), quality: 90 },
    };
  }
}
const pdqOf = (sha: string) => createHash('sha256').update(`pdq:${sha}`).digest('hex');
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

async function setup(
  mode: ComposeMode,
  { down = false, listed = [] as Buffer[], extra = {} as GuardOptions } = {},
) {
  const client = new PhotoDnaClient({
    apiKey: 'compose-key',
    // A closed port: every call fails at once (connection refused, one attempt).
    baseUrl: down ? 'http://127.0.0.1:9' : emu.emulator.url,
    retry: { maxAttempts: 1 },
  });
  const list = new ListBackEnd(new Set(listed.map(sha)));
  const guard = photodnaGuard({
    matcher: composeMatchers(client.asMatcher(), list, { mode, primaryIsPhotoDna: true }),
    ...extra,
  });
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
  return { list, send, scans, matches };
}

describe("mode 'both'", () => {
  it('a clean file is clean for both, and carries its PDQ hash and quality everywhere', async () => {
    const { send, scans } = await setup('both');
    const bytes = fresh();
    const res = await send(bytes);
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('clean');
    expect(res.body.photodna.files[0].pdq).toEqual({ hash: pdqOf(sha(bytes)), quality: 90 });
    expect(res.body.photodna.files[0].trackingId).toMatch(/^1_photodna_/);
    expect(scans[0]?.file.pdq).toEqual({ hash: pdqOf(sha(bytes)), quality: 90 });
  });

  it('a match from either back end counts, and the flags say which', async () => {
    const onlyListed = fresh();
    const { send, matches } = await setup('both', { listed: [onlyListed] });
    expect((await send(knownImage(), 'photodna.png')).status).toBe(422);
    expect((await send(onlyListed, 'pdq.png')).status).toBe(422);
    expect(matches.map((m) => [m.file.originalname, m.matchFlags.map((f) => f.algorithm)])).toEqual(
      [
        ['photodna.png', ['photodna']],
        ['pdq.png', ['pdq']],
      ],
    );
    expect(matches[1]?.matchFlags[0]).toEqual({
      source: 'mine',
      violations: [],
      matchDistance: 3,
      algorithm: 'pdq',
    });
    expect(matches[1]?.file.pdq?.quality).toBe(90);
  });

  it('the quarantine record keeps the PDQ hash and quality', async () => {
    const dir = mkdtempSync(join(scratch, 'q-'));
    const listed = fresh();
    const { send } = await setup('both', {
      listed: [listed],
      extra: { policy: 'quarantine', quarantine: { dir } },
    });
    expect((await send(listed)).status).toBe(422);
    const records = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.json'));
    expect(records).toHaveLength(1);
    const record = JSON.parse(readFileSync(join(dir, records[0] as string), 'utf8'));
    expect(record.pdq).toEqual({ hash: pdqOf(sha(listed)), quality: 90 });
    expect(record.matchFlags[0].algorithm).toBe('pdq');
  });

  it('PhotoDNA down: a PDQ match still counts; a PDQ-clean file is unchecked, never clean', async () => {
    const listed = fresh();
    const open = await setup('both', { down: true, listed: [listed], extra: { failMode: 'open' } });
    expect((await open.send(listed)).status).toBe(422);
    const clean = await open.send(fresh());
    expect(clean.status).toBe(200);
    expect(clean.body.photodna.status).toBe('unchecked');
    expect(clean.body.photodna.files[0].pdq.quality).toBe(90);
    expect(clean.body.photodna.files[0].trackingId).toBeUndefined();

    const closed = await setup('both', { down: true });
    expect((await closed.send(fresh())).status).toBe(503);
  });

  it('PDQ down while PhotoDNA is up: unchecked too (PDQ was supposed to run)', async () => {
    const { send, list } = await setup('both', { extra: { failMode: 'open' } });
    list.failing = true;
    const res = await send(fresh());
    expect(res.body.photodna.status).toBe('unchecked');
    const known = await send(knownImage());
    expect(known.status).toBe(422); // PhotoDNA's match stands
  });
});

describe("mode 'fallback'", () => {
  it('PDQ is not asked while PhotoDNA answers', async () => {
    const { send, list, matches } = await setup('fallback');
    expect((await send(fresh())).body.photodna.status).toBe('clean');
    expect((await send(knownImage())).status).toBe(422);
    expect(list.asked).toEqual([]);
    expect(matches[0]?.matchFlags[0]?.algorithm).toBe('photodna');
  });

  it("PhotoDNA down: PDQ checks; its match blocks, its clean answer passes as unchecked under 'open'", async () => {
    const listed = fresh();
    const { send, list } = await setup('fallback', {
      down: true,
      listed: [listed],
      extra: { failMode: 'open' },
    });
    expect((await send(listed, 'listed.png')).status).toBe(422);
    const other = await send(fresh(), 'other.png');
    expect(other.status).toBe(200);
    expect(other.body.photodna.status).toBe('unchecked');
    expect(other.body.photodna.files[0].pdq.quality).toBe(90);
    expect(list.asked).toEqual(['listed.png', 'other.png']);
  });

  it("PhotoDNA down under 'closed': a PDQ-clean file is still refused with 503", async () => {
    const { send } = await setup('fallback', { down: true });
    const res = await send(fresh());
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
  });
});
