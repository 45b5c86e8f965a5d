import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ConnectionErrors, connectionReason } from '../../src/queue/connection-errors.js';

describe('ConnectionErrors', () => {
  it('reports once per 30 s while failures last, without the URL credentials', () => {
    const errors = new ConnectionErrors('redis://queue-user:p%40ss-word@127.0.0.1:6390/0');
    const seen: string[] = [];
    errors.listen((error, reason) => seen.push(`${reason}: ${error.message}`));
    errors.report(new ReplyError('WRONGPASS for queue-user with p@ss-word (p%40ss-word)'));
    errors.report(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
    expect(seen).toEqual([
      "unauthorized: the queue's Redis: WRONGPASS for [redacted] with [redacted] ([redacted])",
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

  it('tells a refused password or right from a Redis error reply and from no answer at all', () => {
    expect(connectionReason(new ReplyError('WRONGPASS invalid username-password pair'))).toBe(
      'unauthorized',
    );
    expect(connectionReason(new ReplyError('NOAUTH Authentication required.'))).toBe(
      'unauthorized',
    );
    expect(
      connectionReason(
        new ReplyError("NOPERM User w has no permissions to run the 'evalsha' command"),
      ),
    ).toBe('unauthorized');
    expect(connectionReason(new ReplyError('LOADING Redis is loading the dataset in memory'))).toBe(
      'server-error',
    );
    expect(
      connectionReason(new ReplyError("READONLY You can't write against a read only replica.")),
    ).toBe('server-error');
    expect(connectionReason(new Error('connect ECONNREFUSED 127.0.0.1:6390'))).toBe('network');
    expect(connectionReason(new Error('Connection is closed.'))).toBe('network');
    // A password that happens to spell a Redis code is not read as one: only a word of its own.
    expect(connectionReason(new Error('getaddrinfo ENOTFOUND xWRONGPASSx'))).toBe('network');
    expect(connectionReason('socket hang up')).toBe('network');
  });
});
