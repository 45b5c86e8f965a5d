/**
 * The login throttle over simulated minutes (its clock is a parameter): what it remembers stays
 * bounded under a flood from ever new addresses, and its waits end when the minute does.
 */
import { describe, expect, it } from 'vitest';
import {
  LoginThrottle,
  MAX_FAILED_LOGINS_IN_ALL,
  MAX_FAILED_LOGINS_PER_CLIENT,
} from '../../../src/console/login-throttle.js';

describe('LoginThrottle', () => {
  it('keeps no more clients on record than the ceiling allows, under an hour of floods from new addresses', () => {
    const throttle = new LoginThrottle();
    let most = 0;
    let admitted = 0;
    for (let minute = 0; minute < 60; minute++) {
      // 2,000 new addresses a minute, spread over the minute: IPv4, and IPv6 from new /64s.
      for (let i = 0; i < 2_000; i++) {
        const address =
          i % 2 === 0
            ? `10.${minute}.${i >> 8}.${i & 255}`
            : `2001:db8:${minute.toString(16)}:${i.toString(16)}::1`;
        if (throttle.take(address, minute * 60_000 + i * 30) === 0) admitted += 1;
        most = Math.max(most, throttle.clientsOnRecord);
      }
    }
    expect(most).toBeLessThanOrEqual(MAX_FAILED_LOGINS_IN_ALL);
    // About the ceiling's worth each minute, no more (windows slide across minute boundaries).
    expect(admitted).toBeLessThanOrEqual(60 * MAX_FAILED_LOGINS_IN_ALL);
    expect(admitted).toBeGreaterThanOrEqual(59 * MAX_FAILED_LOGINS_IN_ALL);
  });

  it('forgets a quiet client once its last failure is a minute old', () => {
    const throttle = new LoginThrottle();
    for (let i = 0; i < 50; i++) throttle.take(`192.0.2.${i}`, i);
    expect(throttle.clientsOnRecord).toBe(50);
    throttle.take('198.51.100.1', 60_049);
    expect(throttle.clientsOnRecord).toBe(1);
  });

  it('answers the seconds until the oldest failure in the way is a minute old', () => {
    const throttle = new LoginThrottle();
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_CLIENT; i++) {
      expect(throttle.take('203.0.113.7', i * 1_000)).toBe(0);
    }
    expect(throttle.take('203.0.113.7', 30_000)).toBe(30); // the first, at 0 s, leaves at 60 s
    expect(throttle.take('203.0.113.7', 59_999)).toBe(1);
    expect(throttle.take('203.0.113.7', 60_000)).toBe(0); // the one at 0 s left: one more try
    expect(throttle.take('203.0.113.7', 60_001)).toBe(1); // the one at 1 s leaves at 61 s
  });

  it('takes a right token’s try back, and the client stays familiar past the ceiling', () => {
    const throttle = new LoginThrottle();
    expect(throttle.take('192.0.2.10', 0)).toBe(0);
    throttle.succeeded('192.0.2.10', 0, 0);
    expect(throttle.clientsOnRecord).toBe(0);
    for (let i = 0; i < MAX_FAILED_LOGINS_IN_ALL; i++)
      throttle.take(`198.18.${i >> 3}.${i & 7}`, 1);
    expect(throttle.take('198.51.100.1', 2)).toBe(60);
    expect(throttle.take('192.0.2.10', 2)).toBe(0);
  });
});
