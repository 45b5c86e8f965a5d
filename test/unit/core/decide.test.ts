import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Continue, Respond } from '../../../src/core/outcome.js';
import { GuardError, type Matcher, type MatchRequest } from '../../../src/index.js';
import type { MulterFile } from '../../../src/multipart/selection.js';
import { jpg, png } from '../../fixtures/images.js';
import { coreWith, TestView } from '../../helpers/core-view.js';
import { knownImage } from '../../helpers/emulated.js';
import { RecordingMatcher } from '../../helpers/matchers.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const KNOWN = knownImage();

/** A back end that cannot be reached: every call fails as an outage. */
const downMatcher: Matcher = {
  async match() {
    throw new GuardError('SCAN_UNAVAILABLE', { reason: 'server-error', detail: 'down' });
  },
};

/** A back end that answers only when its request's signal aborts; `asked` resolves on the call. */
function hangingMatcher() {
  let called: (r: MatchRequest) => void = () => {};
  const asked = new Promise<MatchRequest>((resolve) => {
    called = resolve;
  });
  const matcher: Matcher = {
    match(request) {
      called(request);
      return new Promise((_, reject) => {
        request.signal.addEventListener('abort', () => reject(request.signal.reason));
      });
    },
  };
  return { matcher, asked };
}

describe('decide: the core without HTTP', () => {
  it('a clean upload continues with photodna and withholds nothing; events: one scan', async () => {
    const { core, events, upload } = coreWith(new RecordingMatcher());
    const view = TestView.upload([
      { name: 'photo', filename: 'a.png', type: 'image/png', data: png() },
      { name: 'caption', data: 'hello' },
    ]);
    const outcome = await core.decide(upload(), view);
    expect(outcome).toBeInstanceOf(Continue);
    const go = outcome as Continue;
    expect(go.photodna?.status).toBe('clean');
    expect(go.photodna?.files.map((f) => [f.field, f.mimetype, f.width])).toEqual([
      ['photo', 'image/png', 200],
    ]);
    expect(go.withheld).toEqual([]);
    expect(view.body.body).toEqual({ caption: 'hello' });
    expect((view.body.files as MulterFile[]).map((f) => f.fieldname)).toEqual(['photo']);
    expect(events).toEqual(['scan:clean']);
  });

  it('a match under block responds 422 UPLOAD_REJECTED and drops every file; events: scan, match, one reject', async () => {
    const { core, events, upload } = coreWith(new RecordingMatcher([sha(KNOWN)]));
    const view = TestView.upload([
      { name: 'a', filename: 'a.png', data: KNOWN },
      { name: 'b', filename: 'b.jpg', data: jpg() },
    ]);
    const outcome = await core.decide(upload(), view);
    expect(outcome).toBeInstanceOf(Respond);
    const answer = outcome as Respond;
    expect([answer.status, answer.code]).toEqual([422, 'UPLOAD_REJECTED']);
    expect(JSON.parse(answer.body).error.message).not.toMatch(/match|hash|photodna/i);
    expect(view.body.files).toEqual([]);
    expect(events.slice().sort()).toEqual(
      ['match', 'reject:UPLOAD_REJECTED', 'scan:clean', 'scan:match'].sort(),
    );
    expect(events.at(-1)).toBe('reject:UPLOAD_REJECTED');
  });

  it('a match under flag continues with the matched file withheld from the request; no reject', async () => {
    const { core, events, upload } = coreWith(new RecordingMatcher([sha(KNOWN)]), {
      policy: 'flag',
    });
    const view = TestView.upload([
      { name: 'bad', filename: 'a.png', data: KNOWN },
      { name: 'good', filename: 'b.png', data: png(200, 200, 2) },
    ]);
    const go = (await core.decide(upload(), view)) as Continue;
    expect(go.kind).toBe('continue');
    expect(go.photodna?.status).toBe('match');
    expect(go.withheld.map((f) => f.fieldname)).toEqual(['bad']);
    expect((view.body.files as MulterFile[]).map((f) => f.fieldname)).toEqual(['good']);
    expect(events).not.toContain('reject:UPLOAD_REJECTED');
    expect(events).toContain('match');
  });

  it('rule: a service outage under failMode closed emits error (the cause) then one reject (the 503)', async () => {
    const { core, events, upload } = coreWith(downMatcher);
    const outcome = (await core.decide(
      upload(),
      TestView.upload([{ name: 'f', filename: 'a.png', data: png() }]),
    )) as Respond;
    expect([outcome.status, outcome.code]).toEqual([503, 'SCAN_UNAVAILABLE']);
    expect(Number(outcome.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(events).toEqual(['scan:unchecked', 'error:scan', 'reject:SCAN_UNAVAILABLE']);
  });

  it('rule: the same outage under failMode open continues as unchecked: error, no reject', async () => {
    const { core, events, upload } = coreWith(downMatcher, { failMode: 'open' });
    const go = (await core.decide(
      upload(),
      TestView.upload([{ name: 'f', filename: 'a.png', data: png() }]),
    )) as Continue;
    expect(go.photodna?.status).toBe('unchecked');
    expect(events).toEqual(['scan:unchecked', 'error:scan']);
  });

  it('rule: scan() before any parser is a configuration failure with the same events as an outage: error then one reject', async () => {
    const { core, events, scan } = coreWith(new RecordingMatcher());
    const view = TestView.upload([{ name: 'f', filename: 'a.png', data: png() }]);
    const outcome = (await core.decide(scan(), view)) as Respond;
    expect([outcome.status, outcome.code]).toEqual([503, 'SCAN_UNAVAILABLE']);
    expect(events).toEqual(['error:scan', 'reject:SCAN_UNAVAILABLE']);
  });

  it('a validation rejection responds with its code, asks no matcher and creates no abort signal; events: one reject', async () => {
    const matcher = new RecordingMatcher();
    const { core, events, upload } = coreWith(matcher);
    const view = TestView.upload([{ name: 'f', filename: 'a.png', data: png(100, 100) }]);
    const outcome = (await core.decide(upload(), view)) as Respond;
    expect([outcome.status, outcome.code]).toEqual([422, 'IMAGE_TOO_SMALL']);
    expect(matcher.calls).toHaveLength(0);
    expect(view.watchCalls).toBe(0);
    expect(events).toEqual(['reject:IMAGE_TOO_SMALL']);
  });

  it('a malformed body responds 400 MALFORMED_MULTIPART; events: one reject', async () => {
    const { core, events, upload } = coreWith(new RecordingMatcher());
    const view = new TestView(
      Buffer.from('--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nunterminated'),
      'multipart/form-data; boundary=x',
    );
    const outcome = (await core.decide(upload(), view)) as Respond;
    expect([outcome.status, outcome.code]).toEqual([400, 'MALFORMED_MULTIPART']);
    expect(events).toEqual(['reject:MALFORMED_MULTIPART']);
  });

  it('a non-multipart request passes through unread, untaken, with no events', async () => {
    const { core, events, upload } = coreWith(new RecordingMatcher());
    const view = new TestView(Buffer.from('{"a":1}'), 'application/json');
    const go = (await core.decide(upload(), view)) as Continue;
    expect(go.kind).toBe('continue');
    expect(go.photodna).toBeUndefined();
    expect(view.taken).toBe(false);
    expect(view.body.readableEnded).toBe(false);
    expect(events).toEqual([]);
  });

  it('a request another guard took is not parsed or scanned again', async () => {
    const matcher = new RecordingMatcher();
    const { core, upload } = coreWith(matcher);
    const view = TestView.upload([{ name: 'f', filename: 'a.png', data: png() }]);
    view.taken = true;
    const go = (await core.decide(upload(), view)) as Continue;
    expect(go.photodna).toBeUndefined();
    expect(matcher.calls).toHaveLength(0);
  });

  it('the uploader leaving while the matcher works ends in gone, with no reject and no scan event', async () => {
    const { matcher, asked } = hangingMatcher();
    const { core, events, upload } = coreWith(matcher);
    const view = TestView.upload([{ name: 'f', filename: 'a.png', data: png() }]);
    const decided = core.decide(upload(), view);
    await asked;
    expect(view.watchCalls).toBe(1);
    view.leave();
    expect((await decided).kind).toBe('gone');
    expect(events).toEqual([]);
  });

  it('one deadline for the request: a matcher that never answers is unchecked at scanTimeoutMs, 503 with error then reject', async () => {
    const { matcher } = hangingMatcher();
    const { core, events, upload } = coreWith(matcher, { scanTimeoutMs: 50 });
    const errors: string[] = [];
    core.events.on('error', (e) => errors.push(String(e.reason)));
    const outcome = (await core.decide(
      upload(),
      TestView.upload([
        { name: 'a', filename: 'a.png', data: png(200, 200, 1) },
        { name: 'b', filename: 'b.png', data: png(200, 200, 2) },
      ]),
    )) as Respond;
    expect([outcome.status, outcome.code]).toEqual([503, 'SCAN_UNAVAILABLE']);
    expect(errors).toEqual(['timeout', 'timeout']);
    expect(events.at(-1)).toBe('reject:SCAN_UNAVAILABLE');
  });

  it('a cache hit creates no abort signal at all', async () => {
    const matcher = new RecordingMatcher();
    const { core, upload } = coreWith(matcher);
    const bytes = png(200, 200, 9);
    await core.decide(upload(), TestView.upload([{ name: 'f', filename: 'a.png', data: bytes }]));
    const again = TestView.upload([{ name: 'f', filename: 'a.png', data: bytes }]);
    const go = (await core.decide(upload(), again)) as Continue;
    expect(go.photodna?.status).toBe('clean');
    expect(matcher.calls).toHaveLength(1);
    expect(again.watchCalls).toBe(0);
  });
});
