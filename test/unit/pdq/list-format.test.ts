import { describe, expect, it } from 'vitest';
import { loadPdqList, parsePdqList } from '../../../src/pdq/index.js';

const A = 'f8bafd904d92a85f58aa017586d10bf0706af07e497447858f48fa65fa6dc968';
const B = '9ed220e3096ad30e642a9e1e5a6526f460e551a513839b163f16b74fb72ab5fa';

describe('parsePdqList', () => {
  it("reads python-threatexchange's `pdq <hex>` lines, bare hex, comments and blank lines", () => {
    const text = `# exported 2026-11-30\npdq ${A}\n\n  ${B.toUpperCase()} from case 12\nPDQ ${B}\r\n`;
    expect(parsePdqList(text)).toEqual([
      { hash: A, metadata: {} },
      { hash: B, metadata: { note: 'from case 12' } },
      { hash: B, metadata: {} },
    ]);
  });

  it('reads lines ended by a lone CR (classic Mac) as separate hashes, as its CSV reader does', () => {
    // Never one hash with every later one as its note: those would silently stop matching.
    expect(parsePdqList(`# list\rpdq ${A}\r${B} case 12\r`)).toEqual([
      { hash: A, metadata: {} },
      { hash: B, metadata: { note: 'case 12' } },
    ]);
    expect(parsePdqList(`id,hash\r1,${A}\r2,${B}\r`).map((entry) => entry.hash)).toEqual([A, B]);
  });

  it('reads CSV with a header, keeping the other columns as metadata', () => {
    const text = `id,pdq_hash,quality,violations,notes\n17,${A},92,"A1,B2","said ""hi"", twice"\n18,${B},60,,\n`;
    expect(parsePdqList(text)).toEqual([
      {
        hash: A,
        metadata: { id: '17', quality: '92', violations: 'A1,B2', notes: 'said "hi", twice' },
      },
      { hash: B, metadata: { id: '18', quality: '60', violations: '', notes: '' } },
    ]);
  });

  it('accepts the usual hash column names in any case, and a BOM', () => {
    for (const column of ['pdq', 'Hash', 'signal_value', 'SIGNAL']) {
      expect(parsePdqList(`\ufeff${column},x\n${A},1\n`)[0]?.hash).toBe(A);
    }
  });

  it('fails the whole list with the line number of a bad hash', () => {
    expect(() => parsePdqList(`pdq ${A}\npdq 1234\n`)).toThrow(/line 2: not a 64-digit hex/);
    expect(() => parsePdqList(`hash,id\n${A},1\nnope,2\n`)).toThrow(/line 3/);
    expect(() => parsePdqList('id,name\n1,x\n')).toThrow(/no hash column/);
    expect(() => parsePdqList(`hash,id\n"${A},1\n`)).toThrow(/unterminated/);
  });

  it("keeps a CSV data row whose first field starts with '#' (a case id); comment rows stay comments", () => {
    const text = `# exported 2026-11-30\ncase,pdq_hash,violations\n#1017,${A},A1\n# reviewed by T&S\ncase-2,${B},B1\n`;
    expect(parsePdqList(text).map((entry) => [entry.hash, entry.metadata.case])).toEqual([
      [A, '#1017'],
      [B, 'case-2'],
    ]);
  });

  it('a list given in code refuses an entry that is no hash, never moving metadata onto another hash', async () => {
    const load = loadPdqList({
      name: 'partner',
      hashes: [
        { hash: '', metadata: { violations: 'A1' } },
        { hash: B, metadata: { violations: 'B2' } },
      ],
    });
    await expect(load).rejects.toThrow(/entry 1 is not a 64-digit hex/);
    const fine = await loadPdqList({
      name: 'partner',
      hashes: [A, { hash: B.toUpperCase(), metadata: { violations: 'B2' } }],
    });
    expect(fine.entries).toEqual([
      { hash: A, metadata: {} },
      { hash: B, metadata: { violations: 'B2' } },
    ]);
  });

  it('reads an empty list as no entries', () => {
    expect(parsePdqList('')).toEqual([]);
    expect(parsePdqList('# nothing yet\n')).toEqual([]);
  });
});
