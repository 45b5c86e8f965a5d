/**
 * The `User-Agent` kept as evidence is cut to one bound on every path: the synchronous guard's
 * `match` event and quarantine record keep at most the characters a deferred job's `uploader`
 * keeps (a header may be 16 KiB in Node).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { type MatchEvent, photodnaGuard, type QuarantineEvent } from '../../src/index.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { serveUploads } from '../helpers/express-app.js';

const emu = useEmulator();
const scratch = mkdtempSync(join(tmpdir(), 'pdg-user-agent-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('a 10 KiB User-Agent on a match (Express, quarantine)', () => {
  it('reaches the match event, the quarantine event and the stored record cut to 1,024 characters', async () => {
    const dir = join(scratch, 'q');
    const guard = photodnaGuard(emu.options({ policy: 'quarantine', quarantine: { dir } }));
    const matches: MatchEvent[] = [];
    const quarantined: QuarantineEvent[] = [];
    guard.on('match', (e) => matches.push(e)).on('quarantine', (e) => quarantined.push(e));
    const server = await serveUploads(guard);
    try {
      const agent = `agent/${'x'.repeat(10 * 1024)}`;
      const res = await request(server.url)
        .post('/upload')
        .set('user-agent', agent)
        .attach('photo', knownImage(), 'photo.png');
      expect(res.status).toBe(422);

      // Compared as lengths and a flag: a failing `toBe` would print 10 KiB twice.
      const kept = (userAgent: unknown) => ({
        length: (userAgent as string | undefined)?.length,
        prefix: agent.startsWith(userAgent as string),
      });
      const cut = { length: 1_024, prefix: true };
      expect(matches).toHaveLength(1);
      expect(kept(matches[0]?.userAgent)).toEqual(cut);
      expect(kept(quarantined[0]?.record.userAgent)).toEqual(cut);
      const stored = readdirSync(dir).find((name) => name.endsWith('.json')) as string;
      expect(kept(JSON.parse(readFileSync(join(dir, stored), 'utf8')).userAgent)).toEqual(cut);
    } finally {
      await server.close();
    }
  });
});
