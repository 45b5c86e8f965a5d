/**
 * `limits.maxBufferedBytes` counts the copies the guard makes of an upload while deciding, not
 * only the bytes it read: what `sanitize` makes of each file ('reencode' holds the upload twice)
 * and the images it decodes from text fields (a `data:` URL's base64). The copy that takes the
 * process past the budget refuses its request 503 `SCAN_BUSY` (a `reject`, no `error`), which
 * keeps nothing counted; a request alone passes whatever its copies; every way a request ends
 * gives its copies back (pass, reject, sharp's throw, the uploader leaving mid-sanitize or
 * mid-check). Real HTTP, real sharp, real images; Express and Fastify.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DECODING_PIXEL_BUDGET, decodingPixels } from '../../src/core/pixel-budget.js';
import { uploadBudget } from '../../src/core/upload-budget.js';
import type { GuardOptions } from '../../src/index.js';
import type { Matcher, MatchRequest, MatchResult } from '../../src/types.js';
import { corruptPixelsPng, png } from '../fixtures/images.js';
import { adapters, type Running, startPerTest } from '../helpers/adapters.js';
import { multipartBody, sendUpload } from '../helpers/raw-upload.js';
import { B, codeOf, KIB, MIB, partOf, send, stall, upload } from '../helpers/stalled-upload.js';
import { until } from '../helpers/until.js';

const CLEAN = png(200, 200, 1);
/** A data: URL of `CLEAN` in a text field: its decoded bytes are a second copy of the image. */
const inField = multipartBody(B, [
  { name: 'avatar', data: `data:image/png;base64,${CLEAN.toString('base64')}` },
]);

/**
 * A real back end for the matcher seam: a file named `known.png` matches (re-encoded bytes have
 * no hash to know them by); the rest are clean, once `open()` when `hold()` was called. Records
 * `uploadBudget.held` as each check begins: the request's bytes and copies, counted meanwhile.
 */
class Backend implements Matcher {
  readonly heldAtCalls: number[] = [];
  #gate: Promise<void> | undefined;
  #open: () => void = () => {};

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  open(): void {
    this.#open();
  }

  async match({ file, signal }: MatchRequest): Promise<MatchResult> {
    this.heldAtCalls.push(uploadBudget.held);
    const gate = this.#gate;
    if (gate) {
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const isMatch = file.originalname === 'known.png';
    return {
      isMatch,
      trackingId: 'copies',
      matchFlags: isMatch ? [{ source: 'Test', violations: ['A1'] }] : [],
    };
  }
}

/** What the check saw of each file: `size` is the checked (sanitized) copy's. */
const filesOf = (answer: { body: Buffer }) =>
  (JSON.parse(answer.body.toString()) as { photodna: { files: Array<{ size: number }> } }).photodna
    .files;

afterEach(async () => {
  // Nothing a test started may leave counted for the next one (the budget is the process's).
  await until(() => uploadBudget.held === 0, 'the budget given back');
});

describe.each(adapters.filter((a) => a.name === 'express5' || a.name === 'fastify5'))(
  '$name',
  (adapter) => {
    const start = startPerTest(adapter);

    async function serve(options: GuardOptions & { matcher: Backend }) {
      const server = await start(options, [
        { path: '/upload', use: (g) => g.single('f') },
        { path: '/plain', use: (g) => g.route({ sanitize: 'none' }).single('f') },
        { path: '/metadata', use: (g) => g.route({ sanitize: 'metadata' }).single('f') },
        { path: '/any', use: (g) => g.any() },
      ]);
      const events: string[] = [];
      const details: string[] = [];
      server.guard.on('error', (e) => events.push(`error:${e.reason ?? e.stage}`));
      server.guard.on('reject', (e) => {
        events.push(`reject:${e.code}`);
        details.push(e.detail ?? '');
      });
      return { server, events, details };
    }

    it("a re-encoded copy counts: the upload whose copy takes the process past the budget is refused 503 SCAN_BUSY, though its body alone fits beside a stalled one's", async () => {
      const body = upload(CLEAN);
      const part = partOf(512 * KIB, 100 * KIB);
      // Exactly the stalled bytes and this body: its re-encoded copy is one byte too many.
      const budget = part.sent.length + body.length;
      const matcher = new Backend();
      const { server, events, details } = await serve({
        matcher,
        cache: false,
        sanitize: 'reencode',
        limits: { maxBufferedBytes: budget, maxFileSize: MIB },
      });
      const stalled = stall(server.port, '/plain', part.length, part.sent);
      await until(() => uploadBudget.held === part.sent.length, 'the stalled upload counted');

      // Unsanitized, the same body fits beside it.
      expect((await send(server, '/plain', body)).status).toBe(200);
      await until(() => uploadBudget.held === part.sent.length, 'that upload given back');
      events.length = 0;

      const refused = await send(server, '/upload', body);
      expect(refused.status).toBe(503);
      expect(codeOf(refused)).toBe('SCAN_BUSY');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(events).toEqual(['reject:SCAN_BUSY']); // as the parser's refusal: no `error`
      expect(details[details.length - 1]).toMatch(/maxBufferedBytes.*a sanitized file/);
      expect(matcher.heldAtCalls).toHaveLength(1); // the unsanitized one only: never checked
      expect(server.log.runs).toBe(1);
      // The refused upload keeps nothing counted; the stalled one, first there, is not refused.
      expect(uploadBudget.held).toBe(part.sent.length);
      expect(stalled.answered()).toBe(false);

      stalled.socket.destroy();
      await until(() => uploadBudget.held === 0, 'the stalled upload given back');
      expect((await send(server, '/upload', body)).status).toBe(200); // alone, it passes
    });

    it('an image decoded from a text field counts: the one that takes the process past the budget refuses its request 503 SCAN_BUSY', async () => {
      const part = partOf(512 * KIB, 100 * KIB);
      const matcher = new Backend();
      const { server, events, details } = await serve({
        matcher,
        cache: false,
        limits: {
          maxBufferedBytes: part.sent.length + inField.length,
          maxFieldSize: 256 * KIB,
        },
      });
      const stalled = stall(server.port, '/plain', part.length, part.sent);
      await until(() => uploadBudget.held === part.sent.length, 'the stalled upload counted');

      const refused = await send(server, '/any', inField);
      expect(refused.status).toBe(503);
      expect(codeOf(refused)).toBe('SCAN_BUSY');
      expect(events).toEqual(['reject:SCAN_BUSY']);
      expect(details[0]).toMatch(/maxBufferedBytes.*an image decoded from a text field/);
      expect(matcher.heldAtCalls).toEqual([]);
      expect(uploadBudget.held).toBe(part.sent.length);

      stalled.socket.destroy();
      await until(() => uploadBudget.held === 0, 'the stalled upload given back');
      expect((await send(server, '/any', inField)).status).toBe(200);
      // Checked while its body and the decoded image were both counted.
      expect(matcher.heldAtCalls[0]).toBe(inField.length + CLEAN.length);
    });

    it('a request alone is never refused for its copies, whatever the budget', async () => {
      const matcher = new Backend();
      const { server } = await serve({
        matcher,
        cache: false,
        sanitize: 'reencode',
        limits: { maxBufferedBytes: 1, maxFileSize: MIB, maxFieldSize: 256 * KIB },
      });
      const body = upload(CLEAN);
      const passed = await send(server, '/upload', body);
      expect(passed.status).toBe(200);
      // Its body and its re-encoded copy counted while it was checked, past the budget.
      expect(matcher.heldAtCalls[0]).toBe(body.length + (filesOf(passed)[0]?.size ?? 0));
      await until(() => uploadBudget.held === 0, 'given back');
      // A field's image: its body, the decoded image and that image re-encoded.
      expect((await send(server, '/any', inField)).status).toBe(200);
      expect(matcher.heldAtCalls[1]).toBeGreaterThan(inField.length + CLEAN.length);
    });

    describe('every way a request ends gives its copies back: a later upload fits a one-upload budget', () => {
      async function serveAlone() {
        const matcher = new Backend();
        const served = await serve({
          matcher,
          cache: false,
          sanitize: 'reencode',
          // Anything still counted refuses the next upload.
          limits: { maxBufferedBytes: 1, maxFileSize: MIB },
        });
        return { ...served, matcher };
      }

      async function laterFits(server: Running) {
        await until(() => uploadBudget.held === 0, 'the budget given back');
        expect((await send(server, '/upload', upload(CLEAN))).status).toBe(200);
      }

      it.each([
        ['re-encoded', '/upload'],
        ['its metadata cut out', '/metadata'],
      ])('passed, %s', async (_, path) => {
        const { server, matcher } = await serveAlone();
        const body = upload(png(200, 200, 6, 150 * KIB)); // a private chunk 'metadata' cuts
        const answer = await send(server, path, body);
        expect(answer.status).toBe(200);
        const [checked] = filesOf(answer);
        expect(checked?.size).toBeLessThan(150 * KIB); // a copy, not the upload
        expect(matcher.heldAtCalls[0]).toBe(body.length + (checked?.size ?? 0));
        await laterFits(server);
      });

      it('refused: a match', async () => {
        const { server, matcher, events } = await serveAlone();
        const body = upload(CLEAN, 'known.png');
        const answer = await send(server, '/upload', body);
        expect(answer.status).toBe(422);
        expect(codeOf(answer)).toBe('INVALID_IMAGE'); // a match answered as an unreadable image
        expect(events).toEqual(['reject:UPLOAD_REJECTED']);
        expect(matcher.heldAtCalls[0]).toBeGreaterThan(body.length); // the copy counted
        await laterFits(server);
      });

      it('refused: sharp threw on one file after re-encoding the other', async () => {
        const { server, matcher } = await serveAlone();
        const body = multipartBody(B, [
          { name: 'a', filename: 'a.png', type: 'image/png', data: CLEAN },
          { name: 'b', filename: 'b.png', type: 'image/png', data: corruptPixelsPng() },
        ]);
        const answer = await send(server, '/any', body);
        expect(answer.status).toBe(422);
        expect(codeOf(answer)).toBe('INVALID_IMAGE');
        expect(matcher.heldAtCalls).toEqual([]);
        await laterFits(server);
      });

      it('the uploader left mid-sanitize, one file re-encoded and the other waiting for pixels', async () => {
        // The process's pixels all taken but for room for the small file, not the large one.
        let releasePixels: () => void = () => {};
        const pixelsHeld = decodingPixels.run(
          DECODING_PIXEL_BUDGET - 100_000,
          () => new Promise<void>((resolve) => (releasePixels = resolve)),
        );
        try {
          const { server, matcher } = await serveAlone();
          const body = multipartBody(B, [
            { name: 'a', filename: 'a.png', type: 'image/png', data: png(200, 200, 2) },
            { name: 'b', filename: 'b.png', type: 'image/png', data: png(400, 400, 3) },
          ]);
          const socket = sendUpload(server.port, '/any', body, B);
          await until(
            () => uploadBudget.held > body.length && decodingPixels.waiting === 1,
            'the first copy counted, the second re-encode waiting',
          );
          socket.destroy();
          await laterFits(server);
          expect(matcher.heldAtCalls).toHaveLength(1); // the later upload's: it was never checked
        } finally {
          releasePixels();
          await pixelsHeld;
        }
      });

      it('the uploader left during the check', async () => {
        const { server, matcher } = await serveAlone();
        matcher.hold();
        const body = upload(CLEAN);
        const socket = sendUpload(server.port, '/upload', body, B);
        await until(() => matcher.heldAtCalls.length === 1, 'the check under way');
        expect(matcher.heldAtCalls[0]).toBeGreaterThan(body.length); // the copy counted
        socket.destroy();
        await until(() => uploadBudget.held === 0, 'the budget given back');
        matcher.open();
        await laterFits(server);
      });
    });
  },
);
