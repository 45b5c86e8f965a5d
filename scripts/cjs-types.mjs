// After `tsc`: a copy of the type declarations under dist/cjs/, marked CommonJS, for the
// `require` condition of every export. The JavaScript stays ESM (Node >= 20.19 loads it with
// require()); these declarations let TypeScript's CommonJS modes (module node16 among them)
// type `require('photodna-guard')` instead of refusing it as an ES module (TS1479).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const out = join(dist, 'cjs');
rmSync(out, { recursive: true, force: true });

for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(out, relative(dist, from));
  mkdirSync(dirname(to), { recursive: true });
  const text = readFileSync(from, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  writeFileSync(to, text);
}
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
