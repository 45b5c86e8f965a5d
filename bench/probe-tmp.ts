import { createHash } from 'node:crypto';
import { sniffImageType } from '../src/core/sniff.js';
import { readDimensions } from '../src/core/dimensions.js';
import { checkStructure } from '../src/core/structure.js';
import { bmp, gif, jpg, png, tiff } from './lib/fixtures.js';
const F = { png, jpg, gif, bmp, tiff };
async function t(label: string, fn: () => unknown) {
  for (let i = 0; i < 200; i++) await fn();
  const s = performance.now(); let n = 0;
  while (performance.now() - s < 300) { await fn(); n++; }
  console.log(label, (((performance.now() - s) * 1000) / n).toFixed(2), 'µs');
}
for (const [k, make] of Object.entries(F)) {
  const b = make(1024, 768);
  const type = await sniffImageType(b);
  await t(`${k} sniff`, () => sniffImageType(b));
  await t(`${k} dims`, () => readDimensions(b, type));
  await t(`${k} struct`, () => checkStructure(b, type));
  await t(`${k} sha`, () => createHash('sha256').update(b).digest());
}
