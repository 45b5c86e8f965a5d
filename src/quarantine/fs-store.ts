/**
 * The file-system quarantine store (`quarantine: { dir }`). Layout and guarantees are described
 * in `docs/quarantine-store.md`; names come from `./names.ts`, atomic writes from
 * `./atomic-file.ts`. Every failure is a `QuarantineError` (with the fs error as `cause`).
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidOptionsError, QuarantineError } from '../errors.js';
import {
  isNotFound,
  readRegularFile,
  removeStaleTemps,
  syncDir,
  unlinkIfPresent,
  writeFileAtomic,
} from './atomic-file.js';
import { removeStaleLocks, withFileLock } from './file-lock.js';
import { KeyedLock } from './keyed-lock.js';
import {
  assertValidId,
  idOfImageName,
  idOfRecordName,
  imageName,
  LOCK_PREFIX,
  lockName,
  recordName,
} from './names.js';
import { preserveDaysOf } from './preserve-days.js';
import { ensurePrivateDir } from './private-dir.js';
import { type PurgeDecision, purgeDecision } from './purge-policy.js';
import { createRecord, parseRecord, sha256Hex, withClaim, withReport } from './record.js';
import type { FileQuarantineStore, FileQuarantineStoreOptions, QuarantineRecord } from './types.js';

export const DEFAULT_PRESERVE_DAYS = 365;
/** Temp files older than this are leftovers of a crashed writer; younger ones may be in use. */
export const STALE_TEMP_MS = 60_000;
/** Records read at once by `list()`, to stay far from the open-files limit. */
const READ_BATCH = 32;

/** How the store says its directory was not private (the guard passes its own warnings). */
export type QuarantineDirWarning = (message: string) => void;

const emitDirWarning: QuarantineDirWarning = (message) =>
  process.emitWarning(`photodna-guard: ${message}`, { code: 'PHOTODNA_GUARD_QUARANTINE_DIR' });

export function createFileQuarantineStore(
  options: FileQuarantineStoreOptions,
  warn: QuarantineDirWarning = emitDirWarning,
): FileQuarantineStore {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw new InvalidOptionsError('quarantine.dir must be a non-empty path', ['quarantine.dir']);
  }
  const preserveDays = preserveDaysOf(options.preserveDays ?? DEFAULT_PRESERVE_DAYS);
  const dir = resolve(options.dir);
  const inProcess = new KeyedLock();
  /**
   * One update of `id` at a time: in this process (queue), then across processes (lock file);
   * `signal` ends the wait in either.
   */
  const lock = {
    run<T>(id: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      const options = signal ? { signal } : {};
      const locked = () => withFileLock(join(dir, lockName(id)), task, options);
      return inProcess.run(id, locked, signal);
    },
  };
  let opened: Promise<void> | undefined;

  /** Creates/tightens the directory and sweeps stale temps once; retried after a failure. */
  function open(): Promise<void> {
    opened ??= (async () => {
      await ensurePrivateDir(dir, (mode) =>
        warn(
          `the quarantine directory ${dir} had mode ${mode.toString(8)}, so other users could read or list the evidence; it is now 700. Create it private (mkdir -m 700) and check who could read it before.`,
        ),
      );
      await removeStaleTemps(dir, STALE_TEMP_MS);
      await removeStaleLocks(dir, LOCK_PREFIX);
    })().catch((error: unknown) => {
      opened = undefined;
      throw error;
    });
    return opened;
  }

  async function readRecord(id: string): Promise<QuarantineRecord> {
    let bytes: Buffer | undefined;
    try {
      bytes = await readRegularFile(join(dir, recordName(id)));
    } catch (error) {
      if (isNotFound(error)) throw new QuarantineError(`unknown incident id ${id}`);
      throw error;
    }
    if (!bytes) throw new QuarantineError(`the record of incident ${id} is not a regular file`);
    return parseRecord(bytes.toString('utf8'), id);
  }

  async function writeRecord(record: QuarantineRecord): Promise<void> {
    await writeFileAtomic(dir, recordName(record.id), `${JSON.stringify(record, null, 2)}\n`);
  }

  async function readImage(record: QuarantineRecord): Promise<Buffer> {
    let bytes: Buffer | undefined;
    try {
      bytes = await readRegularFile(join(dir, imageName(record.id, record.mimetype)));
    } catch (error) {
      if (isNotFound(error))
        throw new QuarantineError(`the image of incident ${record.id} is missing`);
      throw error;
    }
    if (!bytes) {
      throw new QuarantineError(`the image of incident ${record.id} is not a regular file`);
    }
    if (bytes.length !== record.size || sha256Hex(bytes) !== record.sha256) {
      throw new QuarantineError(
        `integrity check failed: the image of incident ${record.id} was altered`,
      );
    }
    return bytes;
  }

  /** Removes one incident's image, then its record (a crash in between is restartable). */
  async function removeIncident(record: QuarantineRecord): Promise<void> {
    await unlinkIfPresent(join(dir, imageName(record.id, record.mimetype)));
    await unlinkIfPresent(join(dir, recordName(record.id)));
  }

  /** Every readable record, oldest first; `names` is the directory's listing (read once). */
  async function listRecords(names: readonly string[]): Promise<QuarantineRecord[]> {
    await removeStaleTemps(dir, STALE_TEMP_MS, Date.now(), names);
    await removeStaleLocks(dir, LOCK_PREFIX, undefined, names);
    const ids = names.flatMap((name) => idOfRecordName(name) ?? []);
    const records: QuarantineRecord[] = [];
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const batch = ids.slice(i, i + READ_BATCH).map((id) => readRecord(id).catch(() => undefined));
      for (const record of await Promise.all(batch)) if (record) records.push(record);
    }
    return records.sort(
      (a, b) => Date.parse(a.receivedAt) - Date.parse(b.receivedAt) || a.id.localeCompare(b.id),
    );
  }

  /**
   * Runs `task` after `open()`, turning anything it throws into a `QuarantineError`, except the
   * reason of the caller's `signal` (a wait it ended), thrown as it is.
   */
  async function guarded<T>(
    what: string,
    task: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      await open();
      return await task();
    } catch (error) {
      if (error instanceof QuarantineError) throw error;
      if (signal?.aborted && error === signal.reason) throw error;
      throw new QuarantineError(`quarantine store: could not ${what}`, { cause: error });
    }
  }

  return {
    dir,

    put(incident, bytes) {
      return guarded(`store incident ${incident?.id}`, async () => {
        assertValidId(incident?.id);
        if (!(bytes instanceof Uint8Array))
          throw new QuarantineError('put: bytes must be a Buffer');
        const { id } = incident;
        return lock.run(id, async () => {
          const record = createRecord(incident, bytes, preserveDays);
          const image = imageName(id, record.mimetype);
          if (await exists(join(dir, recordName(id)))) {
            throw new QuarantineError(`incident ${id} is already in the store`);
          }
          try {
            await writeFileAtomic(dir, image, bytes); // the image first...
            await writeRecord(record); // ...then the record, whose presence means "complete"
          } catch (error) {
            // A failed put leaves no incident behind: the guard answers 503 for it.
            await unlinkIfPresent(join(dir, recordName(id))).catch(() => undefined);
            await unlinkIfPresent(join(dir, image)).catch(() => undefined);
            await syncDir(dir).catch(() => undefined);
            throw new QuarantineError(`could not store incident ${id}`, { cause: error });
          }
          return record;
        });
      });
    },

    get(id) {
      return guarded(`read incident ${id}`, async () => {
        assertValidId(id);
        const record = await readRecord(id);
        return { record, bytes: await readImage(record) };
      });
    },

    getRecord(id) {
      return guarded(`read incident ${id}`, async () => {
        assertValidId(id);
        return readRecord(id);
      });
    },

    list() {
      return guarded('list incidents', async () => listRecords(await readdir(dir)));
    },

    markReported(id, report) {
      return guarded(`update incident ${id}`, async () => {
        assertValidId(id);
        return lock.run(id, async () => {
          const next = withReport(await readRecord(id), report, preserveDays);
          await writeRecord(next);
          return next;
        });
      });
    },

    claimReport(id, claim, { signal } = {}) {
      return guarded(
        `update incident ${id}`,
        async () => {
          assertValidId(id);
          return lock.run(
            id,
            async () => {
              const record = await readRecord(id);
              const { held, next } = withClaim(record, claim, Date.now());
              if (next) await writeRecord(next);
              return { held, record: next ?? record };
            },
            signal,
          );
        },
        signal,
      );
    },

    release(id, reason) {
      return guarded(`update incident ${id}`, async () => {
        assertValidId(id);
        if (reason !== undefined && typeof reason !== 'string') {
          throw new QuarantineError('release: reason must be a string');
        }
        return lock.run(id, async () => {
          const record = await readRecord(id);
          if (record.released) return record; // the first release stands
          const released = {
            at: new Date().toISOString(),
            ...(reason === undefined ? {} : { reason }),
          };
          const next: QuarantineRecord = { ...record, released };
          await writeRecord(next);
          return next;
        });
      });
    },

    purgeExpired(now = new Date()) {
      return guarded('purge incidents', async () => {
        const purged: string[] = [];
        for (const candidate of await listRecords(await readdir(dir))) {
          if (!purgeDecision(candidate, now).purge) continue;
          const removed = await lock.run(candidate.id, async () => {
            const record = await readRecord(candidate.id); // re-read: it may have changed
            if (!purgeDecision(record, now).purge) return false;
            // Image first: a crash in between leaves an expired record that the next purge removes.
            await removeIncident(record);
            return true;
          });
          if (removed) purged.push(candidate.id);
        }
        if (purged.length > 0) await syncDir(dir);
        return purged;
      });
    },

    purge(id, now = new Date()) {
      return guarded(`purge incident ${id}`, async () => {
        assertValidId(id);
        return lock.run(id, async (): Promise<PurgeDecision> => {
          const record = await readRecord(id);
          const decision = purgeDecision(record, now);
          if (!decision.purge) return decision;
          await removeIncident(record);
          await syncDir(dir);
          return decision;
        });
      });
    },

    incomplete() {
      return guarded('list incomplete incidents', async () => {
        const names = await readdir(dir);
        const complete = new Set((await listRecords(names)).map((record) => record.id));
        const found: string[] = [];
        for (const name of names) {
          const id = idOfImageName(name);
          if (id === undefined || complete.has(id)) continue;
          const info = await stat(join(dir, name)).catch(() => undefined);
          if (info && Date.now() - info.mtimeMs >= STALE_TEMP_MS) found.push(id);
        }
        return found.sort();
      });
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
