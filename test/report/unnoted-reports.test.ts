import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  rememberUnnoted,
  reportFromBytesOnce,
  unnotedReport,
} from '../../src/report/unnoted-reports.js';
import type { ReportResult } from '../../src/types.js';

const ok = (trackingId: string): ReportResult => ({ trackingId, statusCode: 3000, raw: {} });

describe('reports no record notes', () => {
  it('one report per incident from its bytes; a forced send that fails keeps the one filed before', async () => {
    const id = randomUUID();
    let sends = 0;
    const send = (answer: () => Promise<ReportResult>) => () => {
      sends++;
      return answer();
    };
    expect(
      (
        await reportFromBytesOnce(
          id,
          false,
          false,
          send(async () => ok('t1')),
        )
      ).trackingId,
    ).toBe('t1');
    expect(
      (
        await reportFromBytesOnce(
          id,
          false,
          false,
          send(async () => ok('t2')),
        )
      ).trackingId,
    ).toBe('t1');
    expect(sends).toBe(1);
    await expect(
      reportFromBytesOnce(
        id,
        false,
        true,
        send(async () => Promise.reject(new Error('reset'))),
      ),
    ).rejects.toThrow('reset');
    expect(
      (
        await reportFromBytesOnce(
          id,
          false,
          false,
          send(async () => ok('t3')),
        )
      ).trackingId,
    ).toBe('t1');
    expect(sends).toBe(2);
    expect(await unnotedReport(id, false)).toMatchObject({ status: 'reported', trackingId: 't1' });
    // A test report is another incident's business: a real one is still sent.
    expect(await unnotedReport(id, true)).toBeUndefined();
  });

  it('an answer other than 3000 is not kept; a refused send is tried again', async () => {
    const id = randomUUID();
    const refused: ReportResult = { trackingId: 'r', statusCode: 3004, raw: {} };
    await reportFromBytesOnce(id, false, false, async () => refused);
    expect(await unnotedReport(id, false)).toBeUndefined();
    rememberUnnoted(id, false, refused);
    expect(await unnotedReport(id, false)).toBeUndefined();
    rememberUnnoted(id, false, ok('t9'));
    expect(await unnotedReport(id, false)).toMatchObject({ trackingId: 't9' });
  });
});
