import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import multer from 'multer';
import { request } from 'undici';
import { type UploadedFile, validateFile } from '../src/core/validate-file.js';
import { photodnaGuard } from '../src/index.js';
import { limitsSchema } from '../src/options.js';
import type { Matcher } from '../src/types.js';
import { CRAFTED_TYPES, crafted, craftedValid } from '../test/fixtures/crafted.js';
import type { Benchmark } from './lib/benchmark.js';
import { bmp, gif, jpg, png, tiff } from './lib/fixtures.js';
import { fieldsUpload, filesUpload, type Upload } from './lib/multipart.js';
import { MIB, median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Issue 11, class 1: validation work is bounded per file whatever the bytes. Per format, the
 * costliest crafted 4 MiB file (`test/fixtures/crafted.ts`) against a normal file of the same
 * format, in validation time per MiB (medians of alternating rounds); then the longest event-loop
 * stall (`monitorEventLoopDelay`, 1 ms resolution) while a real guard (Express 5, in this
 * process) answers one request carrying ten crafted 4 MiB files, against the same request to a
 * bare `multer().any()` route (what parsing 40 MiB costs anyway), in alternating rounds; and the
 * same for one request of a hundred crafted 64 KiB text fields (the search for images in text).
 */
const ROUNDS = 9;
const CALLS_PER_ROUND = 5;
const REQUESTS = 6;
const STALL_ROUNDS = 4;
const STALL_GOAL_MS = 20;

/** Every crafted file of the per-format rows: refused ones, then ones that pass. */
const HOSTILE = { ...crafted, ...craftedValid };
const TYPES: Readonly<Record<keyof typeof HOSTILE, string>> = {
  ...CRAFTED_TYPES,
  jpegEndSearch: 'image/jpeg, passes',
};

const NORMAL: Readonly<Record<keyof typeof HOSTILE, () => Buffer>> = {
  jpeg: () => jpg(1024, 768),
  jpegFill: () => jpg(1024, 768),
  jpegEndSearch: () => jpg(1024, 768),
  png: () => png(1024, 768),
  gif: () => gif(1024, 768),
  tiff: () => tiff(1024, 768),
  bmp: () => bmp(1024, 768),
};

/** Median milliseconds per MiB of `validateFile`, rejected or not. */
async function msPerMib(upload: UploadedFile): Promise<number[]> {
  const limits = limitsSchema.parse({});
  const samples: number[] = [];
  for (let i = 0; i < CALLS_PER_ROUND; i++) {
    const started = performance.now();
    await validateFile(upload, limits).catch(() => undefined);
    samples.push((performance.now() - started) / (upload.bytes.length / MIB));
  }
  return samples;
}

async function perFormat(rows: Row[]): Promise<void> {
  for (const name of Object.keys(HOSTILE) as Array<keyof typeof HOSTILE>) {
    const hostile: UploadedFile = { field: 'f', originalname: 'x', bytes: HOSTILE[name]() };
    const normal: UploadedFile = { field: 'f', originalname: 'x', bytes: NORMAL[name]() };
    const hostileRounds: number[] = [];
    const normalRounds: number[] = [];
    await msPerMib(hostile); // warm-up
    await msPerMib(normal);
    for (let round = 0; round < ROUNDS; round++) {
      hostileRounds.push(median(await msPerMib(hostile)));
      normalRounds.push(median(await msPerMib(normal)));
    }
    const h = median(hostileRounds);
    const n = median(normalRounds);
    note(`${name} (${TYPES[name]}): crafted ${fmt(h, 'ms/MiB')}, normal ${fmt(n, 'ms/MiB')}`);
    rows.push({
      benchmark: `hostile ${name}: validateFile, crafted 4 MiB`,
      measured: fmt(h, 'ms/MiB'),
      baseline: `${fmt(n, 'ms/MiB')} normal ${name.startsWith('jpeg') ? 'jpeg' : name} 1024x768`,
      ratio: h / n,
      goal: '— (info)',
    });
  }
}

const answerClean: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 'bench', matchFlags: [] }),
};

/** Longest event-loop stall (ms) per request, for each of `REQUESTS` requests of `upload`. */
async function stalls(url: string, upload: Upload): Promise<number[]> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const out: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    histogram.reset();
    histogram.enable();
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': upload.contentType },
      body: upload.body,
    });
    await res.body.dump();
    histogram.disable();
    out.push(histogram.max / 1e6);
  }
  return out;
}

/**
 * Text fields of 64 KiB (the default `maxFieldSize`) written to cost the search for images in
 * text the most: signature starts by the thousand, `data:` and `;base64,` without images, small
 * images each distinct, HTML references and JSON escapes (each adds a reading of the value).
 */
function craftedText(kind: number): string {
  const size = 64 * 1024;
  const gifHead = (i: number) => {
    const b = Buffer.alloc(24);
    b.write('GIF89a');
    b.writeUInt32BE(i, 20);
    return b.toString('base64');
  };
  const repeat = (piece: (i: number) => string) => {
    let text = '';
    for (let i = 0; text.length < size; i++) text += piece(i);
    return text.slice(0, size);
  };
  const kinds = [
    () => repeat(() => 'Qk '),
    () => repeat(() => 'data:,'),
    () => repeat(() => ';base64,'),
    () => repeat((i) => `"${gifHead(i)}`),
    () => repeat((i) => `;base64,${gifHead(i)}&`),
    () => `${repeat(() => 'Qk ').slice(0, size - 6)}\\/&#1;`,
    () => repeat((i) => `"${gifHead(i)}AAAA\\/`),
    () => repeat(() => '&#105;&amp;&colon;\\u0069\\/\\n'),
  ];
  return (kinds[kind % kinds.length] as () => string)();
}

async function stallRow(rows: Row[]): Promise<void> {
  const guard = photodnaGuard({ matcher: answerClean, cache: false });
  const app = express();
  const handler: express.RequestHandler = (_req, res) => {
    res.json({ ok: true });
  };
  app.post('/bare', multer({ limits: { fileSize: 4 * MIB } }).any(), handler);
  app.post('/guarded', guard.any(), handler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const kinds = Object.values(crafted);
    const files = filesUpload(
      Array.from({ length: 10 }, (_, i) => ({
        bytes: (kinds[i % kinds.length] as () => Buffer)(),
        filename: `c${i}`,
      })),
    );
    await stallOf(rows, origin, files, 'ten crafted 4 MiB files');
    const texts = fieldsUpload(
      Array.from({ length: 100 }, (_, i) => ({ name: `t${i}`, value: craftedText(i) })),
    );
    await stallOf(rows, origin, texts, 'a hundred crafted 64 KiB text fields');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await guard.close();
  }
}

/** The stall row of one crafted request, guarded against bare multer in alternating rounds. */
async function stallOf(rows: Row[], origin: string, upload: Upload, what: string): Promise<void> {
  await stalls(`${origin}/bare`, upload); // warm-up
  await stalls(`${origin}/guarded`, upload);
  const guarded: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round < STALL_ROUNDS; round++) {
    guarded.push(...(await stalls(`${origin}/guarded`, upload)));
    bare.push(...(await stalls(`${origin}/bare`, upload)));
  }
  const describe = (s: number[]) =>
    `${fmt(median(s), 'ms')} median, ${fmt(Math.max(...s), 'ms')} max`;
  note(`stall per request of ${what}: guarded ${describe(guarded)}; bare multer ${describe(bare)}`);
  rows.push({
    benchmark: `hostile: longest event-loop stall, one request of ${what}`,
    measured: `${describe(guarded)} of ${guarded.length}`,
    baseline: `${describe(bare)} bare multer`,
    ratio: median(guarded) / median(bare),
    goal: `median < ${STALL_GOAL_MS} ms`,
    met: median(guarded) < STALL_GOAL_MS,
  });
}

export const hostile: Benchmark = {
  name: 'hostile',
  about:
    'crafted 4 MiB files per format vs normal files; event-loop stall of ten crafted files, and of a hundred crafted text fields',
  async run() {
    const rows: Row[] = [];
    await perFormat(rows);
    await stallRow(rows);
    return rows;
  },
};
