/**
 * Worker-thread entry: computes PDQ hashes of decoded pixels sent by `HashPool`.
 */
import { parentPort } from 'node:worker_threads';
import { computePdq, computePdqDihedral } from './compute.js';
import type { HashJob, HashReply } from './hash-pool.js';

parentPort?.on('message', (job: HashJob) => {
  let reply: HashReply;
  try {
    const image = { data: job.data, width: job.width, height: job.height, channels: job.channels };
    reply = { id: job.id, result: job.dihedral ? computePdqDihedral(image) : computePdq(image) };
  } catch (error) {
    reply = { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
