import { describe, expect, it } from 'vitest';
import { ConnectionErrors } from '../../src/queue/connection-errors.js';

describe('ConnectionErrors', () => {
  it('reports once per 30 s while failures last, without the URL credentials', () => {
    const errors = new ConnectionErrors('redis://queue-user:p%40ss-word@127.0.0.1:6390/0');
    const seen: string[] = [];
    errors.listen((error) => seen.push(error.message));
    errors.report(new Error('WRONGPASS for queue-user with p@ss-word (p%40ss-word)'));
    errors.report(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
    expect(seen).toEqual([
      "the queue's Redis: WRONGPASS for [redacted] with [redacted] ([redacted])",
    ]);
  });

  it('reports nothing without a listener, and an ioredis instance has no URL to redact', () => {
    const errors = new ConnectionErrors({});
    errors.report(new Error('lost'));
    const seen: string[] = [];
    errors.listen((error) => seen.push(error.message));
    errors.report(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
    expect(seen).toEqual(["the queue's Redis: connect ECONNREFUSED 127.0.0.1:6390"]);
  });
});
