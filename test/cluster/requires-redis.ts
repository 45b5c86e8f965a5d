import { describe, it } from 'vitest';
import { hasRedisServer } from './redis-server.js';

/**
 * The cluster tests need a real `redis-server` on PATH. Locally, without one, they are skipped and
 * say so; in CI (`process.env.CI`, where `.ci/run` installs it with apt) a missing binary fails.
 */
export const redisAvailable = hasRedisServer();

const MISSING = 'redis-server not found on PATH (install it, e.g. apt-get install redis-server)';

/** `describe` that runs only when redis-server is available (and fails in CI when it is not). */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisAvailable) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('needs redis-server, which CI must provide', () => {
        throw new Error(`${MISSING}; .ci/run installs it in CI`);
      });
    });
    return;
  }
  console.warn(`[photodna-guard tests] skipped "${name}": ${MISSING}`);
  describe.skip(`${name} (skipped: ${MISSING})`, body);
}
