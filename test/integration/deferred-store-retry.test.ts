import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, expect, it } from 'vitest';
import { type MatchEvent, photodnaGuard } from '../../src/index.js';
import { createFileQuarantineStore, type QuarantineStore } from '../../src/quarantine/index.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { until } from '../helpers/until.js';

/**
 * A deferred scan whose quarantine write fails is run again, and `match` comes once, with the
 * attempt that stored the evidence: a listener filing one report per `match` never files two.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-deferred-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The file store, whose first `put` fails (a full disk, say). */
function failingOnce(dir: string): QuarantineStore & { puts: number } {
  const store = createFileQuarantineStore({ dir });
  const wrapped = {
    puts: 0,
    put: (incident: Parameters<QuarantineStore['put']>[0], bytes: Buffer) => {
      wrapped.puts++;
      if (wrapped.puts === 1) return Promise.reject(new Error('ENOSPC: no space left on device'));
      return store.put(incident, bytes);
    },
    get: (id: string) => store.get(id),
    getRecord: (id: string) => store.getRecord(id),
    list: () => store.list(),
    markReported: (...args: Parameters<QuarantineStore['markReported']>) =>
      store.markReported(...args),
    release: (id: string, reason?: string) => store.release(id, reason),
    purgeExpired: (now?: Date) => store.purgeExpired(now),
  };
  return wrapped;
}

it('a deferred match whose evidence write failed is announced once, when a later attempt stores it', async () => {
  const store = failingOnce(join(root, 'quarantine'));
  const guard = photodnaGuard(
    emu.options({
      defer: true,
      policy: 'quarantine',
      quarantine: store,
      queue: { dir: join(root, 'queue') },
    }),
  );
  const matches: MatchEvent[] = [];
  const failures: string[] = [];
  guard.on('match', (e) => matches.push(e));
  guard.on('error', (e) => failures.push(`${e.stage}: ${e.error.message}`));
  const app = express();
  app.post('/upload', guard.single('f'), (req, res) => {
    res.json({ photodna: req.photodna });
  });
  const server = app.listen(0, '127.0.0.1');
  try {
    const res = await request(server).post('/upload').attach('f', knownImage(), 'a.png');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('pending');
    await until(
      () => matches.some((m) => m.quarantineId !== undefined),
      'the stored match',
      20_000,
    );
    expect(store.puts).toBe(2);
    expect(failures).toEqual([expect.stringMatching(/^quarantine: .*ENOSPC/)]);
    expect(matches).toHaveLength(1);
    const [match] = matches;
    const records = await store.list();
    expect(records.map((r) => r.id)).toEqual([match?.quarantineId]);
  } finally {
    server.close();
    await guard.close();
  }
});
