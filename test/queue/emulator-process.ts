/**
 * The emulator in its own process (forked with tsx by the queue cluster test): its clock must
 * not be delayed by the test's own CPU work, or evenly sent calls would arrive bunched up.
 * Answers `{ type: 'calls' }` with the calls it recorded.
 */
import { startEmulator } from '../../src/emulator/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startEmulator>[0];
const emulator = await startEmulator(options);
process.send?.({ type: 'ready', url: emulator.url });
process.on('message', (message: { type: string }) => {
  if (message.type === 'calls') process.send?.({ type: 'calls', calls: emulator.calls });
  if (message.type === 'close') void emulator.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
