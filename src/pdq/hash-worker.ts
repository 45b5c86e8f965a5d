/**
 * Worker-thread entry: decodes (for byte jobs) and hashes images sent by `HashPool`, so that
 * neither the pixel copy nor the math touches the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { computePdq, computePdqDihedral } from './compute.js';
import { decodePixels, PdqDecodeError } from './decode.js';
import type { HashJob, HashReply } from './hash-pool.js';
import type { RawImage } from './luma.js';

async function handle(job: HashJob): Promise<HashReply> {
  try {
    const image: RawImage =
      job.kind === 'bytes'
        ? await decodePixels(Buffer.from(job.bytes), job.type, job.maxPixels)
        : job;
    return { id: job.id, result: job.dihedral ? computePdqDihedral(image) : computePdq(image) };
  } catch (error) {
    return {
      id: job.id,
      error: {
        name: error instanceof Error ? error.name : 'Error',
        message: error instanceof Error ? error.message : String(error),
        ...(error instanceof PdqDecodeError ? { kind: error.kind } : {}),
      },
    };
  }
}

parentPort?.on('message', (job: HashJob) => {
  void handle(job).then((reply) => parentPort?.postMessage(reply));
});
