import type { ReporterInfo } from '../../src/types.js';

/** The reporter details the report tests file with (NCMEC's test endpoint unless overridden). */
export const REPORTER: ReporterInfo = {
  orgName: 'Example Forum',
  reporterName: 'Trust & Safety',
  reporterEmail: 'tns@example.com',
  ncmecUser: 'esp-user',
  ncmecPassword: 'esp-secret',
  isTest: true,
};
