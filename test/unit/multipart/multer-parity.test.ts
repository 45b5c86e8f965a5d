import { PassThrough } from 'node:stream';
import multer from 'multer';
import { describe, expect, it } from 'vitest';
import { GuardError } from '../../../src/errors.js';
import { MultipartParser, UploadAborted } from '../../../src/multipart/parser.js';
import type { Selection } from '../../../src/multipart/selection.js';
import { type Limits, limitsSchema } from '../../../src/options.js';

/**
 * The guard's parser sets `body`, `file` and `files` exactly as multer 2.5 with memory storage
 * and the same limits would (SPEC 3.1: "exactly as `multer().any()` would"), and refuses exactly
 * the forms multer refuses, with multer's reason: the same bodies, cut into the same chunks, go
 * through both, and what each leaves is compared whole (prototypes, key order, bytes).
 */
const LIMITS: Limits = limitsSchema.parse({
  maxFileSize: 64,
  maxFiles: 3,
  maxFields: 6,
  maxFieldSize: 40,
  maxFieldNameSize: 24,
  maxParts: 8,
  maxFieldDepth: 2,
  maxArrayIndex: 10,
});

const upload = multer({
  storage: multer.memoryStorage(),
  limits: {
    fileSize: LIMITS.maxFileSize,
    files: LIMITS.maxFiles,
    fields: LIMITS.maxFields,
    fieldSize: LIMITS.maxFieldSize,
    fieldNameSize: LIMITS.maxFieldNameSize,
    parts: LIMITS.maxParts,
    fieldNestingDepth: LIMITS.maxFieldDepth,
    fieldArrayIndexLimit: LIMITS.maxArrayIndex,
  },
});
const parser = new MultipartParser(LIMITS);

const SELECTIONS: Selection[] = [
  { kind: 'any' },
  { kind: 'none' },
  { kind: 'single', field: 'photo' },
  { kind: 'array', field: 'photo', maxCount: 2 },
  { kind: 'array', field: 'photo' },
  { kind: 'fields', fields: [{ name: 'photo', maxCount: 1 }, { name: 'extra' }] },
  // What JavaScript callers can pass: multer reads NaN as no file, a string as no bound.
  { kind: 'array', field: 'photo', maxCount: Number.NaN },
  { kind: 'array', field: 'photo', maxCount: '2' as never },
  {
    kind: 'fields',
    fields: [
      { name: 'photo', maxCount: '1' as never },
      { name: 'extra', maxCount: Number.NaN },
    ],
  },
];

function multerFor(selection: Selection) {
  switch (selection.kind) {
    case 'any':
      return upload.any();
    case 'none':
      return upload.none();
    case 'single':
      return upload.single(selection.field);
    case 'array':
      return upload.array(selection.field, selection.maxCount);
    case 'fields':
      return upload.fields([...selection.fields]);
  }
}

const BOUNDARY = 'PaRiTy';
const TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

type Part = { disposition: string; type?: string; content: string | Buffer };

function form(parts: readonly Part[], end = `--${BOUNDARY}--\r\n`): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${BOUNDARY}\r\nContent-Disposition: ${part.disposition}\r\n`;
    if (part.type) head += `Content-Type: ${part.type}\r\n`;
    chunks.push(
      Buffer.from(`${head}\r\n`, 'latin1'),
      Buffer.from(part.content),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(end));
  return Buffer.concat(chunks);
}

const field = (name: string, value: string): Part => ({
  disposition: `form-data; name="${name}"`,
  content: value,
});
const file = (
  name: string,
  filename: string,
  content: string | Buffer,
  type = 'image/png',
): Part => ({
  disposition: `form-data; name="${name}"; filename="${filename}"`,
  type,
  content,
});

/** A body stream with headers, fed `body` in the given chunk sizes (then ended, or cut short). */
function source(body: Buffer, cuts: readonly number[], cutShort = false) {
  const headers = { 'content-type': TYPE, 'content-length': String(body.length) };
  const stream = Object.assign(new PassThrough(), { headers });
  let at = 0;
  const feed = (): void => {
    if (at >= body.length) {
      if (cutShort) stream.destroy();
      else stream.end();
      return;
    }
    const size = cuts[at % cuts.length] ?? body.length;
    stream.write(body.subarray(at, at + size));
    at += size;
    setImmediate(feed);
  };
  setImmediate(feed);
  return stream;
}

/** What a parse left, with every prototype and key order made visible. */
function shape(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { buffer: value.toString('hex') };
  if (Array.isArray(value)) return { array: value.map(shape) };
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) === null ? 'null' : 'object';
    return { proto, entries: Object.entries(value).map(([k, v]) => [k, shape(v)]) };
  }
  return value;
}

type Outcome = { error: string } | { body: unknown; file: unknown; files: unknown };

function outcomeOf(
  target: { body?: unknown; file?: unknown; files?: unknown },
  error?: unknown,
): Outcome {
  if (error !== undefined) return { error: describeError(error) };
  return { body: shape(target.body), file: shape(target.file), files: shape(target.files) };
}

/** multer's error as the guard answered it when it parsed with multer (its codes and words). */
function expectedFromMulter(error: unknown, body: PassThrough): string {
  if (body.destroyed && !body.readableEnded) return 'aborted';
  if (error instanceof multer.MulterError) {
    if (error.code === 'LIMIT_FILE_SIZE') return `FILE_TOO_LARGE field '${error.field ?? ''}'`;
    if (error.code.startsWith('LIMIT_')) {
      const named = error.field === undefined ? '' : ` (field '${error.field}')`;
      return `LIMIT_EXCEEDED ${error.code}: ${error.message}${named}`;
    }
  }
  return `MALFORMED_MULTIPART ${(error as Error).message}`;
}

function describeError(error: unknown): string {
  if (error instanceof UploadAborted) return 'aborted';
  if (error instanceof GuardError) return `${error.code} ${error.detail ?? ''}`;
  return `unexpected ${String(error)}`;
}

async function viaMulter(
  body: Buffer,
  cuts: readonly number[],
  selection: Selection,
  cutShort = false,
) {
  const req = source(body, cuts, cutShort);
  const error = await new Promise<unknown>((resolve) => {
    multerFor(selection)(req as never, {} as never, resolve as never);
  });
  if (error) return { error: expectedFromMulter(error, req) } satisfies Outcome;
  return outcomeOf(req as never);
}

async function viaGuard(
  body: Buffer,
  cuts: readonly number[],
  selection: Selection,
  cutShort = false,
) {
  const req = source(body, cuts, cutShort);
  const parsing = parser.parse(req, selection);
  if (!parsing) return { error: 'not read' } satisfies Outcome;
  try {
    await parsing;
  } catch (error) {
    return outcomeOf(req as never, error);
  }
  return outcomeOf(req as never);
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

/** Forms that reach every rule: names, nesting, limits, file placement, malformed bodies. */
const CASES: Array<[string, Buffer]> = [
  ['fields and files', form([field('a', '1'), file('photo', 'x.png', PNG), field('b', '2')])],
  [
    'nested names',
    form([
      field('a[b][c]', 'x'),
      field('a[b][d]', 'y'),
      field('list[]', '1'),
      field('list[]', '2'),
    ]),
  ],
  ['array indexes', form([field('n[0]', 'a'), field('n[2]', 'c'), field('m[10]', 'ok')])],
  ['array index over the limit', form([field('n[11]', 'x')])],
  ['a literal key with digits', form([field('a[6]suffix', 'x'), field('[6]', 'y')])],
  ['nesting too deep', form([field('a[b][c][d]', 'x')])],
  ['scalar then object', form([field('a', '1'), field('a[b]', '2')])],
  ['repeated names', form([field('a', '1'), field('a', '2'), field('a', '3')])],
  [
    'escaped names',
    form([
      field('line%0Abreak', '1'),
      field('quote%22d', '2'),
      field('ret%0dx%0D', '4'),
      field('50%.png', '3'),
    ]),
  ],
  [
    'prototype names',
    form([field('__proto__', 'x'), field('constructor[a]', 'y'), field('toString', 'z')]),
  ],
  ['a name too long', form([field('n'.repeat(25), 'x')])],
  ['a value too long', form([field('v', 'x'.repeat(41))])],
  ['a value at the limit', form([field('v', 'x'.repeat(40))])],
  ['too many fields', form(Array.from({ length: 7 }, (_, i) => field(`f${i}`, 'x')))],
  [
    'too many parts',
    form([
      ...Array.from({ length: 6 }, (_, i) => field(`f${i}`, 'x')),
      file('photo', 'a.png', PNG),
      file('photo', 'b.png', PNG),
      field('z', 'z'),
    ]),
  ],
  ['too many files', form(Array.from({ length: 4 }, (_, i) => file('photo', `${i}.png`, PNG)))],
  ['a file at the size limit', form([file('photo', 'x.png', Buffer.alloc(64, 7))])],
  ['a file over the size limit', form([file('photo', 'x.png', Buffer.alloc(65, 7))])],
  [
    'a file with no name',
    form([{ disposition: 'form-data; filename="x.png"', type: 'image/png', content: PNG }]),
  ],
  ['a field with no name', form([{ disposition: 'form-data', content: 'x' }])],
  ['an empty file input', form([file('photo', '', ''), field('a', '1')])],
  ['a path in the file name', form([file('photo', '../../etc/passwd', PNG)])],
  [
    'a UTF-8 file name',
    form([
      {
        disposition: 'form-data; name="photo"; filename*=UTF-8\'\'%C3%A9t%C3%A9.png',
        type: 'image/png',
        content: PNG,
      },
    ]),
  ],
  ['an escaped file name', form([file('photo', 'a%22b%0A.png', PNG)])],
  ['a file field name too long', form([file('p'.repeat(25), 'x.png', PNG)])],
  ['two photo files', form([file('photo', 'a.png', PNG), file('photo', 'b.png', PNG)])],
  [
    'three photo files',
    form([file('photo', 'a.png', PNG), file('photo', 'b.png', PNG), file('photo', 'c.png', PNG)]),
  ],
  [
    'photo and extra',
    form([file('extra', 'e.png', PNG), file('photo', 'a.png', PNG), file('extra', 'f.png', PNG)]),
  ],
  ['an unexpected field', form([file('other', 'o.png', PNG)])],
  ['no parts', form([])],
  [
    'a field charset',
    form([
      {
        disposition: 'form-data; name="t"',
        type: 'text/plain; charset=latin1',
        content: Buffer.from([0xe9]),
      },
    ]),
  ],
  ['cut short', form([field('a', '1'), file('photo', 'x.png', PNG)], '')],
  [
    'a malformed part header',
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nx\r\n--${BOUNDARY}--\r\n`),
  ],
  [
    'bytes after the end',
    Buffer.concat([form([field('a', '1')]), Buffer.from('trailing garbage')]),
  ],
];

const CUTS: ReadonlyArray<readonly number[]> = [[1 << 20], [1], [7, 3, 11], [64]];

describe('MultipartParser against multer 2.5 (memory storage, the same limits)', () => {
  for (const selection of SELECTIONS) {
    const label = JSON.stringify(selection);
    it.each(CASES)(`${label}: %s`, async (_name, body) => {
      for (const cuts of CUTS) {
        const expected = await viaMulter(body, cuts, selection);
        expect(await viaGuard(body, cuts, selection)).toEqual(expected);
      }
    });
  }

  it('an uploader gone mid-body is an abort for both', async () => {
    const body = form([field('a', '1'), file('photo', 'x.png', Buffer.alloc(60, 1))], '');
    expect(await viaMulter(body.subarray(0, 90), [13], { kind: 'any' }, true)).toEqual({
      error: 'aborted',
    });
    expect(await viaGuard(body.subarray(0, 90), [13], { kind: 'any' }, true)).toEqual({
      error: 'aborted',
    });
  });

  it('random forms, cut at random, agree', async () => {
    let seed = 0x5eed;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const names = ['photo', 'extra', 'a', 'a[b]', 'a[]', 'n[3]', 'other', 'x%22y'];
    for (let round = 0; round < 150; round++) {
      const parts: Part[] = [];
      const count = next(9);
      for (let i = 0; i < count; i++) {
        const name = names[next(names.length)] as string;
        if (next(2) === 0) parts.push(field(name, 'v'.repeat(next(45))));
        else parts.push(file(name, next(5) === 0 ? '' : `f${i}.png`, Buffer.alloc(next(70), i)));
      }
      const body = form(parts);
      const cuts = [1 + next(40), 1 + next(9)];
      const selection = SELECTIONS[next(SELECTIONS.length)] as Selection;
      const expected = await viaMulter(body, cuts, selection);
      expect(await viaGuard(body, cuts, selection), `round ${round}`).toEqual(expected);
    }
  });
});
