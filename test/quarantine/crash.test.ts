/**
 * Crash safety against the built package: a real child process writes to the store and is killed
 * with SIGKILL at the worst moments. A fresh store must never show a half-written incident, and
 * must sweep the leftover temp files once they are stale. Needs `npm run build` first.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { useTempDirs } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/quarantine/fs-store.js', import.meta.url));
const tempDir = useTempDirs();

beforeAll(() => {
  if (!existsSync(BUILT))
    throw new Error('dist/ is missing: run `npm run build` before these tests');
});

function start(dir: string, id: string, mode: string): ChildProcess {
  return fork(WRITER, [dir, id, mode], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
}

function nextMessage(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.once('message', (message) => resolve(message as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) early: ${stderr}`)));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Makes every temp file look older than the stale age, as if a minute had passed. */
async function ageTemps(dir: string): Promise<void> {
  const old = new Date(Date.now() - 120_000);
  for (const name of await readdir(dir)) {
    if (name.startsWith('.tmp-')) await utimes(join(dir, name), old, old);
  }
}

describe('a writer killed with SIGKILL', () => {
  it('between writing the image and renaming it: nothing looks complete, the temp is swept', async () => {
    const dir = await tempDir();
    const id = randomUUID();
    const child = start(dir, id, 'pause-at-1');
    const paused = await nextMessage(child);
    expect(paused.to).toBe(join(dir, `${id}.png`));
    await kill(child);

    const names = (await readdir(dir)).sort();
    expect(names, "the temp and the dead writer's lock").toHaveLength(2);
    expect(names[0]).toBe(`.lock-${id}`);
    expect(names[1]).toMatch(/^\.tmp-[0-9a-f]+$/);
    const store = createFileQuarantineStore({ dir });
    expect(await store.list()).toEqual([]);
    expect(await readdir(dir), "the dead holder's lock is swept").not.toContain(`.lock-${id}`);
    expect(await readdir(dir), 'a young temp may belong to a live writer').toHaveLength(1);
    await ageTemps(dir);
    expect(await createFileQuarantineStore({ dir }).list()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
    await expect(store.get(id)).rejects.toThrow(/unknown incident/);
  });

  it('between the image and the record: not listed, the image is reported as incomplete', async () => {
    const dir = await tempDir();
    const id = randomUUID();
    const child = start(dir, id, 'pause-at-2');
    const paused = await nextMessage(child);
    expect(paused.to).toBe(join(dir, `${id}.json`));
    await kill(child);

    await ageTemps(dir);
    const store = createFileQuarantineStore({ dir });
    expect(await store.list()).toEqual([]);
    expect(await readdir(dir)).toEqual([`${id}.png`]);
    const old = new Date(Date.now() - 120_000);
    await utimes(join(dir, `${id}.png`), old, old);
    expect(await store.incomplete()).toEqual([id]);
    await expect(store.getRecord(id)).rejects.toThrow(/unknown incident/);
  });

  it('while updating a record: the previous record stays intact', async () => {
    const dir = await tempDir();
    const id = randomUUID();
    const child = start(dir, id, 'pause-at-3');
    await nextMessage(child);
    await kill(child);

    await ageTemps(dir);
    const store = createFileQuarantineStore({ dir });
    const [record] = await store.list();
    expect(record?.id).toBe(id);
    expect(record?.report).toEqual({ status: 'not-reported' });
    expect((await store.get(id)).bytes.length).toBe(5000);
    expect((await readdir(dir)).sort()).toEqual([`${id}.json`, `${id}.png`]);
  });

  it('in the middle of a large write: either no incident or a complete, verified one', async () => {
    const dir = await tempDir();
    const id = randomUUID();
    const child = start(dir, id, 'large');
    await nextMessage(child); // "writing"
    // Kill as soon as the temp file shows up (or a little later, at the latest).
    for (let i = 0; i < 500; i++) {
      if ((await readdir(dir)).some((name) => name.startsWith('.tmp-'))) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await kill(child);

    await ageTemps(dir);
    const store = createFileQuarantineStore({ dir });
    const listed = await store.list();
    if (listed.length > 0) {
      // The kill came after the record was renamed: then the incident must be whole.
      expect((await store.get(id)).bytes.length).toBe(64 * 1024 * 1024);
    } else {
      expect(await readdir(dir).then((names) => names.filter((n) => n.endsWith('.json')))).toEqual(
        [],
      );
    }
    expect((await readdir(dir)).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
    for (const name of await readdir(dir)) {
      if (name.endsWith('.json'))
        expect(JSON.parse(await readFile(join(dir, name), 'utf8')).id).toBe(id);
    }
  });
});
