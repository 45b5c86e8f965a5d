/**
 * Shared by the console tests: a real file store with a few incidents (a fresh one, one whose
 * preservation ended and that was reported, one carrying a PDQ hash) and a console over it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { makeIncident } from '../quarantine/helpers.js';

export const TOKEN = 'test-console-token-0123456789';
export const PDQ = 'f'.repeat(16) + '0123456789abcdef'.repeat(3);

export async function seededStore(dir: string) {
  const store = createFileQuarantineStore({ dir });
  const fresh = makeIncident({ receivedAt: new Date(), route: '/avatar' }, 1);
  const old = makeIncident(
    {
      receivedAt: new Date('2020-01-01T10:00:00Z'),
      route: '/old',
      matchFlags: [{ source: 'NCMEC', violations: ['A1'], matchDistance: 42 }],
    },
    2,
  );
  const withPdq = makeIncident({ receivedAt: new Date(Date.now() - 3_600_000), route: '/pdq' }, 3);
  for (const { incident, bytes } of [fresh, old, withPdq]) await store.put(incident, bytes);
  await store.markReported(old.incident.id, {
    status: 'reported',
    at: '2020-01-02T10:00:00.000Z',
    trackingId: 'old-tracking',
    statusCode: 3000,
  });
  // Records of files PDQ hashed carry `pdq: { hash, quality }`, as the file store writes them.
  const path = join(dir, `${withPdq.incident.id}.json`);
  const record = JSON.parse(await readFile(path, 'utf8'));
  await writeFile(
    path,
    `${JSON.stringify({ ...record, pdq: { hash: PDQ, quality: 100 } }, null, 2)}\n`,
  );
  return {
    store,
    fresh: fresh.incident,
    old: old.incident,
    withPdq: withPdq.incident,
    bytes: [fresh.bytes, old.bytes, withPdq.bytes],
  };
}
