import type { Matcher, MatchRequest, MatchResult } from '../../src/types.js';

/**
 * A real in-process back end for the matcher seam (the guard's plug-in point, not the code under
 * test): it matches by SHA-256 like the emulator, answers at once, and records what it was asked.
 */
export class RecordingMatcher implements Matcher {
  readonly calls: MatchRequest[] = [];
  readonly known: Set<string>;

  constructor(knownSha256: Iterable<string> = []) {
    this.known = new Set(knownSha256);
  }

  async match(request: MatchRequest): Promise<MatchResult> {
    this.calls.push(request);
    const isMatch = this.known.has(request.file.sha256);
    return {
      isMatch,
      trackingId: `test_${this.calls.length}`,
      matchFlags: isMatch
        ? [{ source: 'Test', violations: ['A1'], matchDistance: 0, matchId: '1' }]
        : [],
    };
  }
}
