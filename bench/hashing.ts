import { createHash, hash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import multer from 'multer';
import type { Benchmark } from './lib/benchmark.js';
import { jpegOfSize } from './lib/images.js';
import { loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { median } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * Where the SHA-256 of a large upload is cheapest: after the file is buffered (memory storage,
 * then one-shot `crypto.hash`, what the guard does), or while it streams in (a storage engine
 * feeding one `Hash` per file chunk by chunk, so hashing overlaps the network). Both hash exactly
 * the bytes handed on. One client, one request at a time, the two routes interleaved; the load
 * generator shares this process, so only the latency is compared.
 */
const WARMUP = 20;
const SAMPLES = 120;

const hashWhileStreaming: multer.StorageEngine = {
  _handleFile(_req, file, done) {
    const digest = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    file.stream.on('data', (chunk: Buffer) => {
      digest.update(chunk);
      chunks.push(chunk);
      size += chunk.length;
    });
    file.stream.once('error', done);
    file.stream.once('end', () => {
      const buffer = Buffer.concat(chunks, size);
      done(null, { buffer, size, path: digest.digest('hex') });
    });
  },
  _removeFile(_req, _file, done) {
    done(null);
  },
};

export const hashing: Benchmark = {
  name: 'hashing',
  about: `SHA-256 of a 3.5 MiB JPEG while it streams in vs after it is buffered, c=1, ${SAMPLES} each`,
  async run() {
    const digests = new Set<string>();
    const app = express();
    app.post('/after', multer().any(), (req, res) => {
      for (const file of req.files as Express.Multer.File[])
        digests.add(hash('sha256', file.buffer));
      res.end('ok');
    });
    app.post('/during', multer({ storage: hashWhileStreaming }).any(), (req, res) => {
      // The engine leaves the digest in `path` (memory storage has none).
      for (const file of req.files as Express.Multer.File[]) digests.add(file.path);
      res.end('ok');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const pool = loadClient(`http://127.0.0.1:${port}`, 1);
    const uploads = [fileUpload(jpegOfSize(3800, 2850), 'photo.jpg')];
    const once = async (path: string) =>
      (await runLoad(pool, { path, uploads, concurrency: 1, requests: 1, maxMs: 30_000 }))
        .latenciesMs[0] ?? Number.NaN;
    try {
      const latency: Record<string, number[]> = { '/after': [], '/during': [] };
      for (let i = 0; i < WARMUP + SAMPLES; i++) {
        const order = i % 2 === 0 ? ['/after', '/during'] : ['/during', '/after'];
        for (const path of order) {
          const ms = await once(path);
          if (i >= WARMUP) latency[path]?.push(ms);
        }
      }
      const after = median(latency['/after'] ?? []);
      const during = median(latency['/during'] ?? []);
      note(
        `p50 after ${fmt(after, 'ms')}, during ${fmt(during, 'ms')}; one digest: ${digests.size === 1}`,
      );
      return [
        {
          benchmark: 'SHA-256 while streaming vs after, 3.5 MiB (p50, c=1)',
          measured: fmt(during, 'ms'),
          baseline: `${fmt(after, 'ms')} after`,
          ratio: during / after,
          goal: '— (info)',
          met: digests.size === 1 ? undefined : false,
        },
      ];
    } finally {
      await pool.close();
      server.close();
    }
  },
};
