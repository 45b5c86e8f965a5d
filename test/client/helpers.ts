import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PhotoDnaClient, type PhotoDnaClientOptions } from '../../src/client/index.js';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/index.js';
import { PhotoDnaServiceError } from '../../src/errors.js';
import type { Logger } from '../../src/types.js';

export const API_KEY = 'test-key-5f1c2a9e';

/** Fast retries, so that fault tests take milliseconds. */
export const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

export interface Harness {
  emulator: Emulator;
  clients: PhotoDnaClient[];
  client(options?: PhotoDnaClientOptions): PhotoDnaClient;
  close(): Promise<void>;
}

/** An emulator (no rate limit unless asked) and clients pointed at it, closed together. */
export async function harness(options: EmulatorOptions = {}): Promise<Harness> {
  const emulator = await startEmulator({ apiKey: API_KEY, rateLimit: false, ...options });
  const clients: PhotoDnaClient[] = [];
  return {
    emulator,
    clients,
    client(overrides = {}) {
      const client = new PhotoDnaClient({
        apiKey: API_KEY,
        baseUrl: emulator.url,
        rateLimit: { perSecond: 1000 },
        retry: FAST_RETRY,
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await emulator.close();
    },
  };
}

/** A logger that keeps every line as JSON text (to search it for secrets). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (obj: unknown, msg?: string) => {
    lines.push(JSON.stringify({ level, obj: serialise(obj), msg }));
  };
  return {
    lines,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
}

function serialise(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message, stack: v.stack, cause: v.cause } : v,
    ),
  );
}

/** The rejection of `promise`, which must be a `PhotoDnaServiceError`. */
export async function serviceError(promise: Promise<unknown>): Promise<PhotoDnaServiceError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PhotoDnaServiceError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** A PhotoDNA hash (base64 of 144 bytes) derived from `seed`. */
export function hashOf(seed: string): string {
  const bytes = Buffer.alloc(144);
  for (let i = 0; i < 144; i += 32)
    createHash('sha256').update(`${seed}:${i}`).digest().copy(bytes, i);
  return bytes.toString('base64');
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** A forwarding proxy in front of `target` that records what reaches it, untouched. */
export async function recordingProxy(
  target: string,
): Promise<{ url: string; seen: Recorded[]; close(): Promise<void> }> {
  const seen: Recorded[] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  return { url: await listen(server), seen, close: () => closeServer(server) };
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
