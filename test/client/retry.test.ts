import { describe, expect, it } from 'vitest';
import { backoffDelay, nextRetryDelay, parseRetryAfter } from '../../src/client/retry.js';

const settings = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5000, budgetMs: 30_000 };
const transient = { retryable: true, resendSafe: true };

describe('backoffDelay', () => {
  it('grows exponentially under full jitter and stays below the cap', () => {
    const top = () => 0.999_999;
    expect(backoffDelay(1, settings, top)).toBe(199);
    expect(backoffDelay(2, settings, top)).toBe(399);
    expect(backoffDelay(3, settings, top)).toBe(799);
    expect(backoffDelay(10, settings, top)).toBe(4999);
    expect(backoffDelay(3, settings, () => 0)).toBe(0);
  });
});

describe('nextRetryDelay', () => {
  it('retries transient failures within maxAttempts', () => {
    expect(nextRetryDelay(transient, 1, 0, settings, () => 0.5)).toBe(100);
    expect(nextRetryDelay(transient, 3, 0, settings, () => 0.5)).toBe(400);
    expect(nextRetryDelay(transient, 4, 0, settings)).toBeUndefined();
  });

  it('never retries permanent failures or unsafe resends', () => {
    expect(nextRetryDelay({ retryable: false, resendSafe: true }, 1, 0, settings)).toBeUndefined();
    expect(nextRetryDelay({ retryable: true, resendSafe: false }, 1, 0, settings)).toBeUndefined();
  });

  it('honours Retry-After, even beyond maxDelayMs', () => {
    const delay = nextRetryDelay({ ...transient, retryAfter: 7 }, 1, 0, settings, () => 0.5);
    expect(delay).toBe(7100);
    expect(nextRetryDelay({ ...transient, retryAfter: 1 }, 1, 0, settings, () => 0)).toBe(1000);
  });

  it('gives up when the wait would overrun the time budget', () => {
    expect(
      nextRetryDelay({ ...transient, retryAfter: 5 }, 1, 26_000, settings, () => 0),
    ).toBeUndefined();
    expect(nextRetryDelay(transient, 1, 29_999, settings, () => 0.5)).toBeUndefined();
    expect(nextRetryDelay(transient, 1, 29_000, settings, () => 0.5)).toBe(100);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(['2', '9'])).toBe(2);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', undefined, now)).toBe(10);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', undefined, now)).toBe(0);
  });

  it("falls back to API Management's message", () => {
    expect(parseRetryAfter(undefined, 'Rate limit is exceeded. Try again in 4 seconds.')).toBe(4);
    expect(parseRetryAfter('', 'Try again in 1 second')).toBe(1);
  });

  it('answers undefined for nonsense', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-1')).toBeUndefined();
  });
});
