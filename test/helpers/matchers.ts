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

/**
 * A back end that answers only once told to: a scan in flight for as long as the test wants.
 * Each call's signal is kept (read, as the PhotoDNA client reads it, when the call starts).
 */
export class HeldMatcher implements Matcher {
  readonly signals: AbortSignal[] = [];
  readonly #answers: Array<() => void> = [];

  match(request: MatchRequest): Promise<MatchResult> {
    const { signal } = request;
    this.signals.push(signal);
    return new Promise((resolve, reject) => {
      this.#answers.push(() => resolve({ isMatch: false, trackingId: 'held', matchFlags: [] }));
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** Answers every call still waiting (so nothing outlives the test). */
  release(): void {
    for (const answer of this.#answers.splice(0)) answer();
  }

  get allAborted(): boolean {
    return this.signals.length > 0 && this.signals.every((signal) => signal.aborted);
  }
}
