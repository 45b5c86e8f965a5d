/**
 * How the console files reports: the reporter details and NCMEC credentials from the server's
 * options and environment (never from the page), and the sender (the guard's client, or one
 * built from the API key on first use).
 */
import { PhotoDnaClient } from '../client/index.js';
import { missingReporterFields } from '../report/body.js';
import type { ReportSender } from '../report/from-record.js';
import type { ReporterInfo } from '../types.js';
import type { ResolvedConsoleOptions } from './options.js';

export interface ReportingStatus {
  /** Whether a report can be sent (sender and every required reporter field present). */
  configured: boolean;
  /** Reports go to NCMEC's test endpoint. */
  isTest: boolean;
  /** Missing reporter fields, named (never their values). */
  missing: string[];
}

export class ConsoleReporting {
  readonly #options: ResolvedConsoleOptions;
  #client: PhotoDnaClient | undefined;

  constructor(options: ResolvedConsoleOptions) {
    this.#options = options;
  }

  get info(): Partial<ReporterInfo> {
    const env = process.env;
    const given = this.#options.reporter ?? {};
    return {
      ...given,
      ncmecUser: given.ncmecUser ?? env.NCMEC_USER,
      ncmecPassword: given.ncmecPassword ?? env.NCMEC_PASSWORD,
      isTest: given.isTest === true,
    };
  }

  get status(): ReportingStatus {
    const missing: string[] = missingReporterFields(this.info);
    if (!this.#hasSender()) missing.push('apiKey');
    return { configured: missing.length === 0, isTest: this.info.isTest === true, missing };
  }

  sender(): ReportSender {
    const given = this.#options.sender;
    if (typeof given === 'function') return given();
    if (given) return given;
    this.#client ??= new PhotoDnaClient({
      apiKey: this.#apiKey() as string,
      ...(this.#baseUrl() ? { baseUrl: this.#baseUrl() as string } : {}),
    });
    return this.#client;
  }

  async close(): Promise<void> {
    await this.#client?.close();
    this.#client = undefined;
  }

  #hasSender(): boolean {
    return this.#options.sender !== undefined || Boolean(this.#apiKey());
  }

  #apiKey(): string | undefined {
    return this.#options.apiKey ?? process.env.PHOTODNA_API_KEY;
  }

  #baseUrl(): string | undefined {
    return this.#options.baseUrl ?? process.env.PHOTODNA_BASE_URL;
  }
}
