import { describe, expect, it } from 'vitest';
import { createRecord, withReport } from '../../src/quarantine/record.js';
import {
  formatTable,
  reportLabel,
  SUMMARY_HEADER,
  summarize,
} from '../../src/quarantine/summary.js';
import { makeIncident } from './helpers.js';

const { incident, bytes } = makeIncident({ id: 'incident-1' });
const record = createRecord(incident, bytes, 365);

describe('list summary', () => {
  it('labels the report column by the latest attempt and any filed report', () => {
    expect(reportLabel(record)).toBe('not-reported');
    const failed = withReport(record, { status: 'failed', error: 'x' }, 365);
    expect(reportLabel(failed)).toBe('failed');
    const filed = withReport(failed, { status: 'reported', isTest: true, trackingId: 't' }, 365);
    expect(reportLabel(filed)).toBe('reported (test)');
    const resent = withReport(filed, { status: 'failed', error: 'y' }, 365);
    expect(reportLabel(resent)).toBe('reported; resend failed (test)');
  });

  it('prints aligned columns, one line per record', () => {
    const text = formatTable([SUMMARY_HEADER, summarize(record)]);
    const [header, line, rest] = text.split('\n');
    expect(rest).toBe('');
    expect(line?.indexOf('POST /upload')).toBe(header?.indexOf('ROUTE'));
    expect(line?.split(/\s{2,}/)).toEqual([
      'incident-1',
      '2025-03-01T12:00:00.000Z',
      'POST /upload',
      incident.file.sha256.slice(0, 12),
      'quarantine',
      'not-reported',
      'no',
      '2026-03-01T12:00:00.000Z',
    ]);
  });
});
