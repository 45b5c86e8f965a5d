import { request } from 'undici';
import { afterEach } from 'vitest';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/index.js';

export const KEY = 'test-subscription-key';

export const PATHS = {
  v1: '/photodna/v1.0/Match',
  v2: '/v2/PhotoDNA/Match',
  hash: '/photodna/v1.0/MatchHash',
  report: '/photodna/v1.0/Report',
} as const;

const running: Emulator[] = [];

/** Starts an emulator that is closed after the current test. */
export async function emulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const started = await startEmulator(options);
  running.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed body; `undefined` when it is not JSON. Tests inspect it freely. */
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON answer, asserted on by each test
  json: any;
}

/** One real HTTP request to the emulator. `key: null` sends no subscription key. */
export async function call(
  base: Emulator | string,
  path: string,
  init: {
    method?: 'GET' | 'POST';
    body?: Buffer | string;
    contentType?: string | null;
    key?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const url = typeof base === 'string' ? base : base.url;
  const headers: Record<string, string> = { ...init.headers };
  const key = init.key === undefined ? KEY : init.key;
  if (key !== null) headers['ocp-apim-subscription-key'] = key;
  if (init.contentType) headers['content-type'] = init.contentType;
  const response = await request(`${url}${path}`, {
    method: init.method ?? 'POST',
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, json };
}

/** POSTs image bytes to a Match path. */
export function matchImage(
  base: Emulator,
  bytes: Buffer,
  contentType = 'image/png',
  path: string = PATHS.v2,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call(base, path, { body: bytes, contentType, headers });
}

/** POSTs a JSON body. */
export function postJson(
  base: Emulator,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call(base, path, { body: JSON.stringify(body), contentType: 'application/json', headers });
}

/** One entry of a MatchHash answer's `MatchResults`. */
export interface MatchResultBody {
  Status: { Code: number; Description: string; Exception: string | null };
  IsMatch: boolean;
  MatchDetails: {
    MatchFlags: Array<{
      AdvancedInfo: Array<{ Key: string; Value: string }>;
      MatchDistance: number;
    }>;
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
