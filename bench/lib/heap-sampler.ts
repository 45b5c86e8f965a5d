import { Session } from 'node:inspector/promises';

/** One function's share of the sampled allocations. */
export interface Allocator {
  /** `name file:line` (the line of the function's start, in the bundle the server runs). */
  site: string;
  bytes: number;
}

/** What a sampling window allocated: the total, and the top allocating functions. */
export interface HeapSample {
  bytes: number;
  top: Allocator[];
}

/** A node of V8's sampling heap profile (`HeapProfiler.SamplingHeapProfileNode`). */
export interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/**
 * V8's sampling heap profiler over a window, garbage included: with
 * `includeObjectsCollectedByMajorGC/MinorGC` every sampled allocation counts, not only what is
 * still alive when the window ends. V8 scales each sample by its sampling probability, so the
 * total estimates the bytes allocated on the JavaScript heap (not `Buffer` contents, which live
 * outside it). Optimized code reports an inlined function's allocations as its caller's.
 */
export class HeapSampler {
  readonly #session = new Session();

  constructor() {
    this.#session.connect();
  }

  async start(intervalBytes = 128): Promise<void> {
    await this.#session.post('HeapProfiler.enable');
    await this.#session.post('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as { samplingInterval: number });
  }

  async stop(topN = 16): Promise<HeapSample> {
    const { profile } = (await this.#session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: { head: ProfileNode };
    };
    await this.#session.post('HeapProfiler.disable');
    return summarizeProfile(profile.head, topN);
  }

  close(): void {
    this.#session.disconnect();
  }
}

/** The total of a profile's self sizes, and the `topN` functions by bytes (same site, summed). */
export function summarizeProfile(head: ProfileNode, topN: number): HeapSample {
  const bySite = new Map<string, number>();
  let bytes = 0;
  const stack = [head];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.selfSize > 0) {
      bytes += node.selfSize;
      const { functionName, url, lineNumber } = node.callFrame;
      const file = url.replace(/^.*\/(node_modules|bench)\//, '$1/');
      const site = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    stack.push(...node.children);
  }
  const top = [...bySite]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([site, n]) => ({ site, bytes: n }));
  return { bytes, top };
}
