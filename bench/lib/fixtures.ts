import { createRequire } from 'node:module';

type Fixtures = typeof import('../../test/fixtures/images.js');

/**
 * The test suite's real image fixtures. `test/fixtures/images.ts` imports `{ GIFEncoder }` from
 * gifenc, whose CommonJS build hides its exports from Node's ESM linker ("does not provide an
 * export named 'GIFEncoder'"; vitest papers over it). Loaded through tsx's `require` hook it is
 * compiled to CommonJS, where the named import works. Once that file reads
 * `import gifenc from 'gifenc'; const { GIFEncoder } = gifenc;` this can become a plain re-export.
 */
const fixtures = createRequire(import.meta.url)('../../test/fixtures/images.ts') as Fixtures;

export const { png, jpg, gif, bmp, tiff } = fixtures;
