import type { ReporterInfo } from '../../src/types.js';

/** The reporter details alone, `isTest` left to the defaults (the report body's own tests). */
export const REPORTER_DETAILS: ReporterInfo = {
  orgName: 'Example Forum',
  reporterName: 'Trust & Safety',
  reporterEmail: 'tns@example.com',
  ncmecUser: 'esp-user',
  ncmecPassword: 'esp-secret',
};

/** The reporter details the report tests file with (NCMEC's test endpoint unless overridden). */
export const REPORTER: ReporterInfo = { ...REPORTER_DETAILS, isTest: true };
