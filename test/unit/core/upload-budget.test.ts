import { totalmem } from 'node:os';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BufferedBytes,
  defaultMaxBufferedBytes,
  mostBufferedBy,
  UploadBudget,
} from '../../../src/core/upload-budget.js';
import { GuardError } from '../../../src/errors.js';
import { limitsSchema } from '../../../src/options.js';

const MIB = 1024 * 1024;

describe('UploadBudget', () => {
  it('adds up what requests count and gives it back', () => {
    const budget = new UploadBudget();
    expect(budget.add(60)).toBe(60);
    expect(budget.add(40)).toBe(100);
    budget.release(60);
    expect(budget.held).toBe(40);
  });
});

/** A body piped into a parser, as multer's `streamHandler` does, watched by `counted`. */
function piped(counted: BufferedBytes) {
  const body = new PassThrough();
  const received: Buffer[] = [];
  const parser = new Writable({
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk);
      done();
    },
  });
  const destroyed = new Promise<unknown>((resolve) => parser.once('error', resolve));
  body.pipe(parser);
  counted.watch(body, parser);
  return { body, parser, received, destroyed };
}

/** Resolves once the bodies emitted what was written to them (their flow runs on ticks). */
const flowed = () => new Promise((resolve) => setImmediate(resolve));

describe('BufferedBytes', () => {
  it('counts every chunk as it arrives, without changing what the parser reads', async () => {
    const budget = new UploadBudget();
    const counted = new BufferedBytes(budget, 1000, 10_000);
    const { body, received } = piped(counted);
    body.write(Buffer.alloc(100));
    body.write(Buffer.alloc(250));
    await flowed();
    expect(budget.held).toBe(350);
    expect(Buffer.concat(received).length).toBe(350);
    counted.release();
    expect(budget.held).toBe(0);
  });

  it('sees chunks written before it was attached, as the parser does (the same tick as the pipe)', async () => {
    const budget = new UploadBudget();
    const body = new PassThrough();
    body.write(Buffer.alloc(70)); // buffered, unread
    const received: Buffer[] = [];
    const parser = new Writable({
      write(chunk: Buffer, _encoding, done) {
        received.push(chunk);
        done();
      },
    });
    body.pipe(parser);
    new BufferedBytes(budget, 1000, 10_000).watch(body, parser);
    await flowed();
    expect(budget.held).toBe(70);
    expect(Buffer.concat(received).length).toBe(70);
  });

  it('never refuses a request that holds every counted byte, whatever its size', async () => {
    const budget = new UploadBudget();
    const { body, parser } = piped(new BufferedBytes(budget, 100, 10_000));
    body.write(Buffer.alloc(500));
    await flowed();
    expect(budget.held).toBe(500);
    expect(parser.destroyed).toBe(false);
  });

  it('refuses the request whose chunk crossed the budget: parser destroyed with SCAN_BUSY, nothing kept counted', async () => {
    const budget = new UploadBudget();
    const first = new BufferedBytes(budget, 1000, 10_000);
    const a = piped(first);
    a.body.write(Buffer.alloc(600));
    await flowed();
    const b = piped(new BufferedBytes(budget, 1000, 10_000));
    b.body.write(Buffer.alloc(300));
    await flowed();
    expect(budget.held).toBe(900);
    b.body.write(Buffer.alloc(200)); // 1100 > 1000
    const error = await b.destroyed;
    expect(error).toBeInstanceOf(GuardError);
    expect((error as GuardError).code).toBe('SCAN_BUSY');
    expect((error as GuardError).detail).toContain('maxBufferedBytes (1000)');
    expect(budget.held).toBe(600); // the refused one's 500 given back at once
    b.body.write(Buffer.alloc(50)); // drained by the parser's owner: not counted
    await flowed();
    expect(budget.held).toBe(600);
    expect(a.parser.destroyed).toBe(false); // first there, not refused
    first.release();
    expect(budget.held).toBe(0);
  });

  it('a route with a smaller budget compares the shared total with its own', async () => {
    const budget = new UploadBudget();
    piped(new BufferedBytes(budget, 10_000, 10_000)).body.write(Buffer.alloc(500));
    const strict = piped(new BufferedBytes(budget, 600, 10_000));
    strict.body.write(Buffer.alloc(200));
    expect((await strict.destroyed) as GuardError).toBeInstanceOf(GuardError);
    expect(budget.held).toBe(500);
  });

  it('counts no more than its limits let the request hold', async () => {
    const budget = new UploadBudget();
    const { body } = piped(new BufferedBytes(budget, 1000, 300));
    body.write(Buffer.alloc(200));
    body.write(Buffer.alloc(200));
    body.write(Buffer.alloc(200));
    await flowed();
    expect(budget.held).toBe(300);
  });

  it('gives its bytes back once, however often released', async () => {
    const budget = new UploadBudget();
    budget.add(1000); // another request's
    const counted = new BufferedBytes(budget, 10_000, 10_000);
    const { body } = piped(counted);
    body.write(Buffer.alloc(100));
    await flowed();
    counted.release();
    counted.release();
    expect(budget.held).toBe(1000);
    body.write(Buffer.alloc(100)); // read again after the decision (a replay): not counted
    await flowed();
    expect(budget.held).toBe(1000);
  });

  it('unpiped before the parser finished (it refused the body, or the uploader left): gives its bytes back', async () => {
    const budget = new UploadBudget();
    const { body, parser } = piped(new BufferedBytes(budget, 1000, 10_000));
    body.write(Buffer.alloc(100));
    await flowed();
    body.unpipe(parser);
    expect(budget.held).toBe(0);
  });

  it('unpiped once the parser finished: its files are being checked, still counted until released', async () => {
    const budget = new UploadBudget();
    const counted = new BufferedBytes(budget, 1000, 10_000);
    const { body, parser } = piped(counted);
    body.end(Buffer.alloc(100));
    await new Promise((resolve) => parser.once('finish', resolve));
    await flowed();
    expect(parser.writableFinished).toBe(true);
    expect(budget.held).toBe(100);
    counted.release();
    expect(budget.held).toBe(0);
  });
});

describe('BufferedBytes.addRead (files the host’s parser left on disk, read by the guard)', () => {
  it('counts what is read until released, and a request alone past the budget is not refused', () => {
    const budget = new UploadBudget();
    const counted = new BufferedBytes(budget, 100, 10_000);
    counted.addRead(300);
    counted.addRead(200);
    expect(budget.held).toBe(500);
    counted.release();
    counted.release();
    expect(budget.held).toBe(0);
  });

  it('refuses the read that would take the process past the budget beside other requests: SCAN_BUSY, nothing of it kept counted', () => {
    const budget = new UploadBudget();
    const first = new BufferedBytes(budget, 1000, 10_000);
    first.addRead(600);
    const second = new BufferedBytes(budget, 1000, 10_000);
    second.addRead(300);
    let thrown: unknown;
    try {
      second.addRead(200); // 1100 > 1000
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GuardError);
    expect((thrown as GuardError).code).toBe('SCAN_BUSY');
    expect((thrown as GuardError).detail).toContain('maxBufferedBytes (1000)');
    expect(budget.held).toBe(600); // its 300 read before given back too
    // Its other files, still being read: neither counted nor let on.
    expect(() => second.addRead(10)).toThrow(GuardError);
    second.release(); // the decision's release: harmless
    expect(budget.held).toBe(600);
    first.release();
    expect(budget.held).toBe(0);
  });

  it('a read after the request was released (decided while another file was read) is not counted', () => {
    const budget = new UploadBudget();
    const counted = new BufferedBytes(budget, 1000, 10_000);
    counted.addRead(100);
    counted.release();
    expect(() => counted.addRead(100)).toThrow(GuardError);
    expect(budget.held).toBe(0);
  });
});

describe('BufferedBytes.addCopy (copies the guard makes while deciding: sanitized files, field images)', () => {
  it('counts each copy beside the body, uncapped by the limits, and a request alone is never refused', async () => {
    const budget = new UploadBudget();
    const counted = new BufferedBytes(budget, 100, 1000);
    const { body } = piped(counted);
    body.write(Buffer.alloc(1000));
    await flowed();
    counted.addCopy(900, 'a sanitized file'); // past `most` and the budget: real memory, alone
    expect(budget.held).toBe(1900);
    counted.release();
    expect(budget.held).toBe(0);
  });

  it('refuses the copy that takes the process past the budget beside other requests: SCAN_BUSY naming it, nothing kept counted, later copies not counted', () => {
    const budget = new UploadBudget();
    const first = new BufferedBytes(budget, 1000, 10_000);
    first.addRead(600);
    const second = new BufferedBytes(budget, 1000, 10_000);
    second.addRead(300);
    let thrown: unknown;
    try {
      second.addCopy(200, 'a sanitized file'); // 1100 > 1000
    } catch (error) {
      thrown = error;
    }
    expect((thrown as GuardError).code).toBe('SCAN_BUSY');
    expect((thrown as GuardError).detail).toContain('200 bytes of a sanitized file');
    expect(budget.held).toBe(600);
    // Its other files' copies, made after the refusal, go with the request: not counted.
    second.addCopy(500, 'a sanitized file');
    expect(budget.held).toBe(600);
    first.release();
    expect(budget.held).toBe(0);
  });
});

describe('mostBufferedBy', () => {
  it('counts every file and every field at its largest', () => {
    const limits = limitsSchema.parse({});
    expect(mostBufferedBy(limits)).toBe(10 * 4 * MIB + 100 * (64 * 1024 + 200));
  });
});

describe('defaultMaxBufferedBytes', () => {
  it('is a quarter of the memory the process may use, at most 512 MiB', () => {
    const constrained = process.constrainedMemory?.() ?? 0;
    const usable = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
    expect(defaultMaxBufferedBytes()).toBe(Math.min(512 * MIB, Math.floor(usable / 4)));
  });
});
