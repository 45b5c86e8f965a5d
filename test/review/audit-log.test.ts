/**
 * The audit log's hash chain: every kind of tampering (an edited line, a re-hashed edit, a
 * removed, inserted or reordered line, garbage) is found and the first bad line named; the
 * reviewer CLI's `quarantine audit --verify` exits 1 on it. The CLI part needs `npm run build`.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync } from 'node:fs';
import { lstat, readFile, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { type AuditInput, createAuditLog, GENESIS } from '../../src/review/audit-log.js';
import { makeIncident, useTempDirs } from '../quarantine/helpers.js';
import { cli } from '../quarantine/run-cli.js';

const tempDir = useTempDirs();

function input(n: number): AuditInput {
  return {
    actor: 'alice',
    action: 'release',
    incident: `id-${n}`,
    ok: true,
    before: { released: null },
    after: { released: { at: '2025-01-01T00:00:00.000Z' } },
    detail: `reason ${n}`,
  };
}

async function logWith(count: number) {
  const dir = await tempDir();
  const log = createAuditLog(join(dir, 'audit.log'));
  for (let n = 1; n <= count; n++) await log.append(input(n));
  const lines = async () => (await readFile(log.path, 'utf8')).trimEnd().split('\n');
  const save = (lines: string[]) => writeFile(log.path, `${lines.join('\n')}\n`);
  return { dir, log, lines, save };
}

describe('the audit log', () => {
  it('refuses a FIFO in its place instead of blocking on it (reading, appending)', async () => {
    const path = join(await tempDir(), 'audit.log');
    execFileSync('mkfifo', [path]);
    const log = createAuditLog(path);
    await expect(log.read()).rejects.toThrow(/not a regular file/);
    await expect(log.append(input(1))).rejects.toThrow(/not a regular file/);
  });

  it('never appends through a symlink planted at its path: a clear error, the target untouched', async () => {
    const dir = await tempDir();
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n', { mode: 0o644 });
    const linked = join(dir, 'audit.log');
    await symlink(victim, linked);
    const dangling = join(dir, 'dangling.log');
    await symlink(join(dir, 'created-elsewhere'), dangling);
    // Before: the entry was appended to victim.txt, and created-elsewhere was made.
    for (const path of [linked, dangling]) {
      const log = createAuditLog(path);
      await expect(log.append(input(1))).rejects.toThrow(
        `the audit log ${path} is a symbolic link, not written through`,
      );
      await expect(log.assertWritable?.()).rejects.toThrow('is a symbolic link');
      expect((await lstat(path)).isSymbolicLink()).toBe(true);
    }
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await stat(victim)).mode & 0o777).toBe(0o644);
    await expect(stat(join(dir, 'created-elsewhere'))).rejects.toThrow(/ENOENT/);
  });

  // Only root can give a file to another user (chown).
  it.skipIf(process.getuid?.() !== 0)(
    'refuses a log another user created first at its path (they could edit it); one of ours is used',
    async () => {
      const path = join(await tempDir(), 'audit.log');
      await writeFile(path, '', { mode: 0o666 });
      chownSync(path, 65534, 65534); // nobody, who made it first in a shared directory
      const log = createAuditLog(path);
      // Before: the entry was appended to nobody's file, which nobody could then rewrite.
      await expect(log.assertWritable?.()).rejects.toThrow(
        `the audit log ${path} is owned by uid 65534 (not this process's user, uid 0), who could edit what is written to it`,
      );
      await expect(log.append(input(1))).rejects.toThrow(/owned by uid 65534/);
      expect(await readFile(path, 'utf8')).toBe('');
      chownSync(path, 0, 0);
      await log.append(input(1));
      expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'refuses at once a lock file another user planted beside it, naming it',
    async () => {
      const { log } = await logWith(1);
      const lock = `${log.path}.lock`;
      // Made to look held by a live process, and kept fresh by its owner: waited for forever.
      await writeFile(lock, JSON.stringify({ pid: 1, host: hostname(), token: 'planted' }));
      chownSync(lock, 65534, 65534);
      const started = Date.now();
      // Before: every append waited 15 s, then failed "timed out waiting for the lock".
      await expect(log.append(input(2))).rejects.toThrow(
        `the lock file ${lock} is owned by uid 65534, not by this process's user (uid 0)`,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
      await unlink(lock);
      await log.append(input(2));
      expect(await log.verify()).toMatchObject({ ok: true, entries: 2 });
    },
  );

  it('chains each entry to the previous one by SHA-256', async () => {
    const { log } = await logWith(3);
    const entries = await log.read();
    expect(entries.map((entry) => entry.seq)).toEqual([1, 2, 3]);
    expect(entries[0]?.prev).toBe(GENESIS);
    expect(entries[1]?.prev).toBe(entries[0]?.hash);
    expect(entries[2]?.prev).toBe(entries[1]?.hash);
    expect(entries[0]).toMatchObject({ actor: 'alice', action: 'release', incident: 'id-1' });
    expect(await log.verify()).toEqual({ ok: true, entries: 3, head: entries[2]?.hash });
  });

  it('an empty or missing log verifies', async () => {
    const dir = await tempDir();
    expect(await createAuditLog(join(dir, 'audit.log')).verify()).toMatchObject({
      ok: true,
      entries: 0,
    });
  });

  it('finds an edited line', async () => {
    const { log, lines, save } = await logWith(4);
    const all = await lines();
    all[1] = (all[1] as string).replace('"actor":"alice"', '"actor":"mallory"');
    await save(all);
    expect(await log.verify()).toMatchObject({
      ok: false,
      line: 2,
      reason: expect.stringMatching(/edited/),
    });
  });

  it('finds an edit whose own hash was recomputed (the next line no longer follows)', async () => {
    const { log, lines, save } = await logWith(4);
    const all = await lines();
    const entry = JSON.parse(all[1] as string);
    entry.detail = 'forged';
    const { hash: _old, ...unsealed } = entry;
    entry.hash = createHash('sha256').update(JSON.stringify(unsealed)).digest('hex');
    all[1] = JSON.stringify(entry);
    await save(all);
    expect(await log.verify()).toMatchObject({
      ok: false,
      line: 3,
      reason: expect.stringMatching(/follow/),
    });
  });

  it('finds a removed, a duplicated and a reordered line, and garbage', async () => {
    const { log, lines, save } = await logWith(4);
    const all = await lines();
    await save([all[0], all[2], all[3]] as string[]);
    expect(await log.verify()).toMatchObject({ ok: false, line: 2 });
    await save([all[0], all[1], all[1], all[2]] as string[]);
    expect(await log.verify()).toMatchObject({ ok: false, line: 3 });
    await save([all[1], all[0]] as string[]);
    expect(await log.verify()).toMatchObject({ ok: false, line: 1 });
    await save([all[0], 'not json', all[1]] as string[]);
    expect(await log.verify()).toMatchObject({ ok: false, line: 2, reason: 'not a JSON entry' });
  });

  it('an entry after a torn last line (a crash mid-write) starts its own line and follows the last whole entry', async () => {
    const { log } = await logWith(2);
    const [, second] = await log.read();
    // What a crash between the write and its fsync can leave: part of a line, no newline.
    await writeFile(log.path, '{"seq":3,"at":"2025-01-0', { flag: 'a' });
    const entry = await log.append(input(3));
    // Before: the entry was glued to the torn line, so that read() and the CLI lost it too,
    // and it restarted the chain from GENESIS.
    expect((await log.read()).map((e) => e.incident)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(entry).toMatchObject({ seq: 4, prev: second?.hash });
    expect(await log.verify()).toMatchObject({ ok: false, line: 3, reason: 'not a JSON entry' });
    const next = await log.append(input(4));
    expect(next).toMatchObject({ seq: 5, prev: entry.hash });
  });

  it('is created 0600', async () => {
    const { log } = await logWith(1);
    if (process.platform !== 'win32') expect((await stat(log.path)).mode & 0o777).toBe(0o600);
  });
});

describe('photodna-guard quarantine audit', () => {
  it('--verify exits 0 on an intact chain, 1 with the first bad line on tamper', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    expect(
      (await cli(['release', incident.id, '--dir', dir, '--reason', 'false positive'])).code,
    ).toBe(0);
    expect((await cli(['release', incident.id, '--dir', dir])).code).toBe(0);

    const ok = await cli(['audit', '--verify', '--dir', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/2 entries, chain intact/);
    const listed = await cli(['audit', '--dir', dir]);
    expect(listed.stdout).toMatch(
      new RegExp(`^1 \\S+ cli:\\S+ release ${incident.id}: reason: false positive$`, 'm'),
    );
    expect(listed.stdout).toMatch(/^2 .* release .*: was already released$/m);

    const path = join(dir, 'audit.log');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('false positive', 'FALSE POSITIVE'));
    const bad = await cli(['audit', '--verify', '--dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/line 1: the entry does not match its hash/);
    const byFile = await cli(['audit', '--verify', '--file', path]);
    expect(byFile.code).toBe(1);
    expect(byFile.stderr).toMatch(/line 1:/);
    expect((await cli(['audit', '--verify'])).code).toBe(2);
  });

  it('the CLI audits purge (and report attempts) as cli:<user>', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 1 });
    const { incident, bytes } = makeIncident(); // received in 2025: long expired
    await store.put(incident, bytes);
    expect((await cli(['purge', '--dir', dir])).stdout).toContain('kept 1');
    expect((await cli(['release', incident.id, '--dir', dir, '--reason', 'fp'])).code).toBe(0);
    expect((await cli(['purge', '--dir', dir])).stdout).toContain(`removed ${incident.id}`);
    const failed = await cli(['report', incident.id, '--dir', dir, '--api-key', 'k'], {
      PHOTODNA_ORG_NAME: 'o',
      PHOTODNA_REPORTER_NAME: 'r',
      PHOTODNA_REPORTER_EMAIL: 'e@example.com',
      NCMEC_USER: 'u',
      NCMEC_PASSWORD: 'p',
    });
    expect(failed.code).toBe(1); // purged: nothing left to report
    const entries = await createAuditLog(join(dir, 'audit.log')).read();
    expect(entries.map((e) => [e.action, e.ok])).toEqual([
      ['release', true],
      ['purge', true],
    ]);
    expect(entries[1]?.actor).toMatch(/^cli:/);
    expect(entries[1]?.after).toBeNull();
  });
});
