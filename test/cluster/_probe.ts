import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { startRedisServer } from './redis-server.js';

const redis = await startRedisServer();
console.log('redis', redis.url);
const errors: string[] = [];
const limiters = [0, 1, 2].map((i) => {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  const connection = new Bottleneck.IORedisConnection({ client });
  connection.on('error', (e: Error) => errors.push(`conn${i}: ${e.message}`));
  const limiter = new Bottleneck({ id: 'probe', datastore: 'ioredis', connection, minTime: 203, clearDatastore: i === 0 });
  limiter.on('error', (e: Error) => errors.push(`lim${i}: ${e.message}`));
  return limiter;
});
await Promise.all(limiters.map((l) => l.ready()));
const starts: number[] = [];
const t0 = Date.now();
async function burst(n: number, tag: string) {
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, k) =>
      (limiters[k % 3] as Bottleneck).schedule(async () => {
        starts.push(Date.now());
      }),
    ),
  );
  const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  console.log(tag, 'ok', results.length - failed.length, 'failed', failed.length, failed.slice(0, 3).map((f) => String(f.reason?.message)));
}
await burst(15, 'burst1');
const s = starts.map((x) => x - t0);
console.log('starts', s.join(' '));
let worst = 0;
const sorted = [...starts].sort((a, b) => a - b);
for (let i = 0; i + 5 < sorted.length; i++) worst = Math.max(worst, 1000 - ((sorted[i + 5] ?? 0) - (sorted[i] ?? 0)));
console.log('6-in-1s violation margin (positive = violation ms):', worst);
// kill redis
await redis.kill();
console.log('redis killed');
const t1 = Date.now();
const timer = setTimeout(() => console.log('still pending after 10s', errors.slice(-3)), 10_000);
await burst(3, 'during-outage');
console.log('outage burst took', Date.now() - t1);
clearTimeout(timer);
await redis.start();
console.log('redis restarted (empty)');
await new Promise((r) => setTimeout(r, 1500));
starts.length = 0;
const t2 = Date.now();
const timer2 = setTimeout(() => console.log('recovery still pending after 10s', errors.slice(-5)), 10_000);
await Promise.race([burst(6, 'after-restart'), new Promise((r) => setTimeout(r, 20000))]);
clearTimeout(timer2);
console.log('after restart took', Date.now() - t2, 'starts', starts.map((x) => x - t2).join(' '));
console.log('errors', [...new Set(errors)].slice(0, 20));
await Promise.allSettled(limiters.map((l) => l.disconnect(false)));
await redis.close();
process.exit(0);
