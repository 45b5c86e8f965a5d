import { Pool } from 'undici';
import type { Upload } from './multipart.js';

/**
 * A closed-loop load generator: `concurrency` workers over one keep-alive undici `Pool`, each
 * sending its next request as soon as the previous one is answered, until `requests` were sent
 * or `maxMs` passed (whichever comes first). A burst is `concurrency === requests`.
 */
export interface LoadSpec {
  path: string;
  /** Request bodies, used in turn (request i sends `uploads[i % uploads.length]`). */
  uploads: readonly Upload[];
  concurrency: number;
  requests: number;
  maxMs: number;
}

export interface LoadResult {
  completed: number;
  elapsedMs: number;
  /** Completed requests per second over the whole run. */
  perSecond: number;
  /** One per completed request, from sending to the last byte of the answer. */
  latenciesMs: number[];
  /** Count of answers by HTTP status. */
  statuses: Record<number, number>;
  /** Requests that failed without an answer (connection errors, timeouts). */
  errors: number;
  /** CPU time of this (load-generating) process over wall time: near 1 means it was the bottleneck. */
  clientCpu: number;
}

/** A keep-alive connection pool to a server under test; close it when done. */
export function loadClient(origin: string, connections: number, timeoutMs = 180_000): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
  });
}

export async function runLoad(pool: Pool, spec: LoadSpec): Promise<LoadResult> {
  if (spec.uploads.length === 0) throw new RangeError('no uploads to send');
  const latenciesMs: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  let errors = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + spec.maxMs;

  const worker = async (): Promise<void> => {
    while (next < spec.requests && performance.now() < deadline) {
      const upload = spec.uploads[next % spec.uploads.length] as Upload;
      next++;
      const sent = performance.now();
      try {
        const response = await pool.request({
          path: spec.path,
          method: 'POST',
          headers: { 'content-type': upload.contentType },
          body: upload.body,
        });
        await response.body.text();
        latenciesMs.push(performance.now() - sent);
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.requests) }, worker));

  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    completed: latenciesMs.length,
    elapsedMs,
    perSecond: (latenciesMs.length / elapsedMs) * 1000,
    latenciesMs,
    statuses,
    errors,
    clientCpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
  };
}

/** e.g. `200×100` or `200×95, 503×5, errors 0`. */
export function describeStatuses(result: LoadResult): string {
  const parts = Object.entries(result.statuses).map(([status, count]) => `${status}×${count}`);
  if (result.errors > 0) parts.push(`errors×${result.errors}`);
  return parts.join(', ') || 'none';
}

/** Whether every request sent was answered with `status`. */
export function allAnswered(result: LoadResult, status = 200): boolean {
  return result.errors === 0 && (result.statuses[status] ?? 0) === result.completed;
}
