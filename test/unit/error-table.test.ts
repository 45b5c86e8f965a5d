import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

/** The README's error table and the code must agree, row for row. */
describe('README error table', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const table =
    readme.split('<!-- error-table:start -->')[1]?.split('<!-- error-table:end -->')[0] ?? '';
  const rows = [...table.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [
    m[1],
    Number(m[2]),
  ]);

  it('lists every code with its status, once, in the order of the code', () => {
    expect(rows).toEqual(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]));
  });
});
