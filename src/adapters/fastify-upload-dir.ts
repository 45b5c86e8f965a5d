import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import { type NodeRequest, type NodeResponse, whenOver } from './node-view.js';

/** A request decorated by @fastify/multipart, as far as saving its files to disk goes. */
export interface SavingRequest<T> {
  raw: NodeRequest;
  saveRequestFiles(options: { tmpdir: string }): Promise<T>;
  /** The paths the plugin deletes when the response is done (its own cleanup). */
  tmpUploads?: string[] | null;
}

/**
 * `request.saveRequestFiles()`, saving into a directory of this request's own (0700, under the
 * OS temp directory), removed whole once the exchange is over (`whenOver`: answered, or the
 * uploader gone). The plugin's own cleanup deletes files, not their directory, and misses some:
 * when a body breaks off while a file's write stream is still opening, it destroys the stream
 * and deletes the path at once, and the open, already under way, then creates the file after
 * the deletion (@fastify/multipart 10, the catch of `saveRequestFiles`). Once the directory is
 * gone, such an open fails instead (the stream destroyed, its error goes nowhere), and so does
 * any later one. So it goes when the exchange is over, without waiting for the save: that may
 * never settle (the plugin waits forever on some bodies the guard refuses early), and what it
 * still writes then fails. Until the response is done the handler reads the saved files where
 * they are.
 */
export async function saveInOwnDirectory<T>(
  request: SavingRequest<T>,
  res: NodeResponse,
  events: GuardEvents,
): Promise<T> {
  let dir: string;
  try {
    dir = await mkdtemp(join(tmpdir(), 'photodna-guard-'));
  } catch (error) {
    // The server's failure, not the uploader's: Fastify's error handler answers it (500).
    throw Object.assign(
      new Error('photodna-guard: no directory could be made for the uploaded files', {
        cause: error,
      }),
      { statusCode: 500 },
    );
  }
  const saving = request.saveRequestFiles({ tmpdir: dir });
  whenOver(request.raw, res, () => void remove(request, dir, events));
  return saving;
}

async function remove(request: SavingRequest<unknown>, dir: string, events: GuardEvents) {
  // Gone with the directory: the plugin's cleanup, on 'finish' or 'close' after this, would log
  // each one it no longer finds. Files saved elsewhere (a save before the guard's) stay its own.
  const paths = request.tmpUploads;
  if (paths) request.tmpUploads = paths.filter((path) => dirname(path) !== dir);
  await rm(dir, { recursive: true, force: true }).catch((error: unknown) => {
    events.emit('error', { error: toError(error), stage: 'cleanup' });
  });
}
