import type { AddressInfo } from 'node:net';
import { latencySchema } from './fault-schema.js';
import { KnownList } from './known.js';
import { resolveOptions } from './options.js';
import { PdqKnown } from './pdq-known.js';
import { createEmulatorServer } from './server.js';
import { createState, resetState } from './state.js';
import { testImages } from './test-images.js';
import type { Emulator, EmulatorOptions, KnownItems } from './types.js';

/**
 * Starts a local PhotoDNA-compatible server (SPEC 3.5). Options are validated once, here; an
 * invalid option throws `InvalidOptionsError`. Resolves when the server is listening.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const resolved = resolveOptions(options);
  if (resolved.pdq) await PdqKnown.check();
  const known = new KnownList(resolved.pdq ? new PdqKnown(resolved.pdq) : undefined);
  if (resolved.includeTestImages) {
    for (const image of testImages()) await known.addImage(image.bytes);
  }
  await known.add(resolved.known);

  const state = createState(resolved, known);
  const server = createEmulatorServer(state);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  state.port = port;
  const host = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${host}:${port}`,
    port,
    adminToken: state.adminToken,
    calls: state.calls,
    reports: state.reports,
    testReports: state.testReports,
    faults: state.faults,
    setLatency(ms: number): void {
      if (!latencySchema.safeParse(ms).success) {
        throw new RangeError('latency must be an integer from 0 to 600000 milliseconds');
      }
      state.latencyMs = ms;
    },
    addKnown(items: KnownItems): Promise<void> {
      return known.add(items);
    },
    reset(): void {
      resetState(state);
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        state.closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
