import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IdleBody } from '../../../src/multipart/idle-body.js';
import { until } from '../../helpers/until.js';

/**
 * `IdleBody` on a Web-like body (a plain readable, destroyed with an `AbortError` as a Web body
 * whose request's signal aborted): only silence while the body flows is idle time. The Node
 * request kinds (HTTP/1, HTTP/2) are driven over real servers in
 * test/integration/body-idle.test.ts.
 */
const MS = 50;

function flowing() {
  const body = new PassThrough();
  const errors: Error[] = [];
  body.on('error', (error) => errors.push(error));
  body.resume();
  return { body, errors };
}

describe('IdleBody', () => {
  it('destroys a flowing body that sends nothing for its delay, with an AbortError', async () => {
    const { body, errors } = flowing();
    new IdleBody(body, MS);
    await until(() => body.destroyed, 'the silent body destroyed', 5_000);
    expect(errors.map((e) => e.name)).toEqual(['AbortError']);
    expect(body.readableEnded).toBe(false); // an abort, not a whole body
  });

  it('each chunk re-arms the delay: a body that keeps sending is not destroyed', async () => {
    const { body } = flowing();
    const idle = new IdleBody(body, 4 * MS);
    const began = Date.now();
    while (Date.now() - began < 12 * MS) {
      body.write('x');
      await new Promise((resolve) => setTimeout(resolve, MS)); // the sender's pace
    }
    expect(body.destroyed).toBe(false);
    idle.stop();
  });

  it('time paused by the reader (back-pressure) is not idle: counted again once it flows', async () => {
    const { body } = flowing();
    body.pause();
    new IdleBody(body, MS);
    const began = Date.now();
    await until(() => Date.now() - began > 6 * MS, 'six delays with the body paused');
    expect(body.destroyed).toBe(false);
    body.resume();
    await until(() => body.destroyed, 'the body destroyed once it flows, silent', 5_000);
  });

  it('stops at the body’s end, and with stop(): nothing destroyed afterwards', async () => {
    const ended = flowing();
    new IdleBody(ended.body, MS);
    ended.body.end();
    const stopped = flowing();
    new IdleBody(stopped.body, MS).stop();
    const began = Date.now();
    await until(() => Date.now() - began > 6 * MS, 'six delays');
    expect(ended.errors).toEqual([]);
    expect(stopped.body.destroyed).toBe(false);
    expect(ended.body.listenerCount('data')).toBe(0); // only its own listener, removed
  });
});
