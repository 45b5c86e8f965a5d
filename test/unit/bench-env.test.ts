import { afterEach, describe, expect, it } from 'vitest';
import { intFromEnv } from '../../bench/lib/env.js';

const NAME = 'BENCH_TEST_SETTING';

describe('intFromEnv (bench settings)', () => {
  afterEach(() => {
    delete process.env[NAME];
  });

  it('the fallback when unset or blank; the number when whole and at least the minimum', () => {
    expect(intFromEnv(NAME, 7, 0)).toBe(7);
    process.env[NAME] = '  ';
    expect(intFromEnv(NAME, 7, 0)).toBe(7);
    process.env[NAME] = '0';
    expect(intFromEnv(NAME, 7, 0)).toBe(0);
    process.env[NAME] = ' 2000 ';
    expect(intFromEnv(NAME, 7, 1)).toBe(2000);
  });

  it.each(['0', '-1', '1.5', '1e3', '0x10', 'ten'])(
    '%s is refused where the minimum is 1, naming the variable',
    (value) => {
      process.env[NAME] = value;
      expect(() => intFromEnv(NAME, 7, 1)).toThrow(
        `${NAME} must be a whole number of at least 1, got '${value}'`,
      );
    },
  );
});
