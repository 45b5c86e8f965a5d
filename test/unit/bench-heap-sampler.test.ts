import { describe, expect, it } from 'vitest';
import { type ProfileNode, summarizeProfile } from '../../bench/lib/heap-sampler.js';

const node = (
  functionName: string,
  url: string,
  lineNumber: number,
  selfSize: number,
  children: ProfileNode[] = [],
): ProfileNode => ({ callFrame: { functionName, url, lineNumber }, selfSize, children });

describe('summarizeProfile (the allocation bench)', () => {
  const head = node('(root)', '', -1, 0, [
    node('decide', 'file:///repo/bench/lib/.server-child-1-1.mjs', 9386, 300, [
      node('', 'file:///repo/node_modules/busboy/lib/index.js', 4, 50),
      // The same function reached through another caller: one site, summed.
      node('decide', 'file:///repo/bench/lib/.server-child-1-1.mjs', 9386, 200),
    ]),
    node('write_', 'node:_http_outgoing', 897, 400, [node('push', '', -1, 0)]),
  ]);

  it('totals every self size and names each site by function, file and line', () => {
    const { bytes, top } = summarizeProfile(head, 10);
    expect(bytes).toBe(950);
    expect(top).toEqual([
      { site: 'decide bench/lib/.server-child-1-1.mjs:9387', bytes: 500 },
      { site: 'write_ node:_http_outgoing:898', bytes: 400 },
      { site: '(anonymous) node_modules/busboy/lib/index.js:5', bytes: 50 },
    ]);
  });

  it('keeps the top N only, the total still whole', () => {
    const { bytes, top } = summarizeProfile(head, 1);
    expect(bytes).toBe(950);
    expect(top).toHaveLength(1);
  });
});
