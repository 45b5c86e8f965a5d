/**
 * Several real processes (the server, the CLI and the console in production) update one
 * incident at the same instant: no update is lost, and the audit log's chain stays whole.
 * Needs `npm run build` first.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { createAuditLog } from '../../src/review/audit-log.js';
import { makeIncident, useTempDirs } from './helpers.js';

const HAMMER = fileURLToPath(new URL('./fixtures/hammer.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/review/audit-log.js', import.meta.url));
const tempDir = useTempDirs();
const PROCESSES = 4;
const ROUNDS = 30;

beforeAll(() => {
  if (!existsSync(BUILT))
    throw new Error('dist/ is missing: run `npm run build` before these tests');
});

function message(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}): ${stderr}`));
    child.once('exit', onExit);
    child.once('message', () => {
      child.off('exit', onExit);
      resolve();
    });
  });
}

describe('processes racing on one record', () => {
  it(`${PROCESSES} processes x ${ROUNDS} updates each: every update is kept`, async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);

    const children = Array.from({ length: PROCESSES }, (_, n) =>
      fork(HAMMER, [dir, incident.id, String(ROUNDS), `p${n}`], {
        execArgv: [],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      }),
    );
    await Promise.all(children.map(message)); // all ready
    const done = children.map(message);
    for (const child of children) child.send('go');
    await Promise.all(done);

    const record = await store.getRecord(incident.id);
    const attempts = [...(record.reportHistory ?? []), record.report];
    expect(attempts).toHaveLength(PROCESSES * ROUNDS);
    for (let n = 0; n < PROCESSES; n++) {
      const mine = attempts.filter((a) => a.error?.startsWith(`p${n}-`)).map((a) => a.error);
      // Each process's updates are all there, in its own order.
      expect(mine).toEqual(Array.from({ length: ROUNDS }, (_, i) => `p${n}-${i}`));
    }

    const audit = createAuditLog(join(dir, 'audit.log'));
    expect(await audit.verify()).toMatchObject({ ok: true, entries: PROCESSES * ROUNDS });
    expect((await readdir(dir)).filter((name) => name.includes('lock'))).toEqual([]);
  });
});
