import { createHash } from 'node:crypto';
import { GuardCore } from '/work/main/src/core/guard-core.ts';
import { png } from '/work/main/test/fixtures/images.ts';
import { sniffImageType } from '/work/main/src/core/sniff.ts';
import { readDimensions } from '/work/main/src/core/dimensions.ts';
const core = new GuardCore({ matcher: { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) }, cache: false });
const bytes = png(200, 200, 3).subarray(0);
console.log('bytes', bytes.length);
const N = 20000;
async function time(name: string, fn: () => Promise<unknown> | unknown) {
  for (let i = 0; i < 2000; i++) await fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn();
  console.log(name, Number(process.hrtime.bigint() - t) / N / 1000, 'µs');
}
await time('sha256', () => createHash('sha256').update(bytes).digest('hex'));
await time('sniff', () => sniffImageType(bytes));
await time('dims', () => readDimensions(bytes, 'image/png'));
await time('core.scan', () => core.scan({ route: '/x', method: 'POST', ip: '1', receivedAt: new Date(), signal: new AbortController().signal, raw: {} }, [{ field: 'f', originalname: 'a.png', bytes }], core.routeConfig));
