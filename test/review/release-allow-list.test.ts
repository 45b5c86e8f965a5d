/**
 * Releasing a quarantined PDQ match with an allow-list, end to end: a real guard with a PDQ
 * matcher stores the uploads, a moderator releases them through the console (real HTTP), and a
 * PDQ matcher reading the allow-list decides the next uploads. A released near match is allowed
 * from then on; a release never allow-lists a hash that is a listed one, which would let the
 * listed image itself through.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { photodnaGuard } from '../../src/index.js';
import { createPdqMatcher, type PdqMatcher } from '../../src/pdq/index.js';
import { TOKEN } from '../console/helpers.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { REFERENCE } from '../unit/pdq/reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/pdq');
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const hashOf = (file: string) => REFERENCE.find((r) => r.file === file)?.dihedral[0] as string;
const LISTED = hashOf('scene1.png');

const tempDir = useTempDirs();
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function pdqMatcher(options: Parameters<typeof createPdqMatcher>[0]): PdqMatcher {
  const matcher = createPdqMatcher({ watch: false, pool: false, ...options });
  closers.push(() => matcher.close());
  return matcher;
}

/** Uploads `bytes` through a guard quarantining PDQ matches of the list; the stored record's id. */
async function quarantined(dir: string, bytes: Buffer): Promise<string> {
  const guard = photodnaGuard({
    matcher: pdqMatcher({ lists: [{ name: 'ncmec', hashes: [LISTED] }] }),
    policy: 'quarantine',
    quarantine: { dir },
  });
  closers.push(() => guard.close());
  const ids: string[] = [];
  guard.on('quarantine', ({ record }) => ids.push(record.id));
  const app = express();
  app.post('/upload', guard.single('image'), (_req, res) => {
    res.json({ ok: true });
  });
  await request(app).post('/upload').attach('image', bytes, 'photo.png').expect(422);
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

/** The allow-list file a host's PDQ matcher reads (it exists before the first release). */
async function allowListFile(): Promise<string> {
  const path = join(await tempDir(), 'allow.txt');
  await writeFile(path, HEADER, { mode: 0o600 });
  return path;
}
const HEADER = '# released false positives\n';

async function releaseInConsole(dir: string, allowList: string, id: string): Promise<void> {
  const reviewConsole: Console = createConsole({
    dir,
    token: TOKEN,
    allowList: { path: allowList },
  });
  closers.push(() => reviewConsole.close());
  const app = express();
  app.use('/console', reviewConsole.express());
  const login = await request(app)
    .post('/console/api/login')
    .set('Host', '127.0.0.1')
    .set('Origin', 'http://127.0.0.1')
    .send({ token: TOKEN })
    .expect(200);
  await request(app)
    .post(`/console/api/incidents/${id}/release`)
    .set('Host', '127.0.0.1')
    .set('Origin', 'http://127.0.0.1')
    .set('Cookie', String(login.headers['set-cookie']?.[0]).split(';')[0] as string)
    .set('X-CSRF-Token', login.body.csrf)
    .send({ reason: 'a moderator judged it a false positive' })
    .expect(200);
}

describe('releasing a PDQ match with an allow-list', () => {
  it('allow-lists a released near match, and the next upload of it passes', async () => {
    const dir = await tempDir();
    const allowList = await allowListFile();
    const near = fixture('scene1.jpg'); // a re-encoded copy: a few bits from the listed hash
    const id = await quarantined(dir, near);
    await releaseInConsole(dir, allowList, id);
    expect(await readFile(allowList, 'utf8')).toBe(`${HEADER}pdq ${hashOf('scene1.jpg')}\n`);
    const next = pdqMatcher({
      lists: [{ name: 'ncmec', hashes: [LISTED] }],
      allowLists: { released: allowList },
    });
    expect((await next.matchBytes(near)).pdq.allowedBy).toBe('released');
  });

  it('never allow-lists a hash that is a listed one: the listed image itself would pass from then on', async () => {
    const dir = await tempDir();
    const allowList = await allowListFile();
    // The listed image's own PDQ hash (as an image crafted to collide with it exactly has): a
    // moderator, who never sees the image, releases it as a false positive.
    const id = await quarantined(dir, fixture('scene1.png'));
    await releaseInConsole(dir, allowList, id);
    // Before: "pdq <listed hash>" was appended, and every later upload of the listed image
    // was allowed by it (the allow-list hash at distance 0 is as near as the listed one).
    expect(await readFile(allowList, 'utf8')).toBe(HEADER);
    const next = pdqMatcher({
      lists: [{ name: 'ncmec', hashes: [LISTED] }],
      allowLists: { released: allowList },
    });
    const again = await next.matchBytes(fixture('scene1.png'));
    expect(again.isMatch).toBe(true);
    expect(again.pdq.allowedBy).toBeUndefined();
    // The release stands; its audit entry says why nothing was listed.
    const audit = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n');
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0] as string)).toMatchObject({
      action: 'release',
      ok: true,
      after: { released: { reason: 'a moderator judged it a false positive' } },
    });
    expect(JSON.parse(audit[0] as string).detail).toMatch(
      /not allow-listed: .*listed hash exactly/,
    );
  });
});
