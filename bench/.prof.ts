import { allAnswered, describeStatuses, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { jpegOfSize } from './lib/images.js';
import { startServer } from './lib/server-process.js';
import { warmJit } from './lib/jit-warmup.js';

const route = process.argv[2] ?? '/guarded';
const n = Number(process.argv[3] ?? 20000);
const dir = process.argv[4] ?? '/tmp/prof2/out';
const server = await startServer({ kind: 'instant' }, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100'] });
await warmJit(server.origin, [route]);
const pool = loadClient(server.origin, 16);
const upload = fileUpload(jpegOfSize(480, 320), 'photo.jpg');
const before = await server.usage();
const r = await runLoad(pool, { path: route, uploads: [upload], concurrency: 16, requests: n, maxMs: 600000 });
const after = await server.usage();
console.log(route, r.perSecond.toFixed(0), 'req/s', ((after.micros - before.micros) / n).toFixed(1), 'µs/req', ((after.mainMicros! - before.mainMicros!) / n).toFixed(1), 'main µs/req', allAnswered(r) ? '' : describeStatuses(r));
await pool.close();
await server.close();
