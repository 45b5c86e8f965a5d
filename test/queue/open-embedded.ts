/**
 * Child of sqlite-unbuilt.test.ts: opens an embedded scan queue in the directory given and prints
 * what came of it as one JSON line.
 */

import { PhotoDnaServiceError } from '../../src/errors.js';
import { openScanQueue } from '../../src/queue/index.js';

try {
  const queue = await openScanQueue({ dir: process.argv[2] as string });
  await queue.close();
  console.log(JSON.stringify({ opened: true }));
} catch (error) {
  const e = error as Error;
  console.log(
    JSON.stringify({
      opened: false,
      service: e instanceof PhotoDnaServiceError,
      reason: (e as PhotoDnaServiceError).reason,
      message: e.message,
      cause: (e.cause as Error | undefined)?.message,
    }),
  );
}
