// Prometheus metrics of a guard: GET /metrics answers the text exposition (scans, matches, calls,
// 429s, retries, latency histograms, cache hit ratio, queue depths).
// Run from the repository root: npm run build && node examples/metrics/server.mjs
// In production serve /metrics to operators only (another port, or behind auth): an uploader who
// reads matches_total can tell that an upload matched.
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

const emulator = await startEmulator({ port: 0 });
const guard = photodnaGuard({ apiKey: 'demo-key', baseUrl: emulator.url });
await guard.metrics(); // start collecting now (metrics are collected from the first call on)

const app = express();
app.post('/upload', guard.single('image'), (req, res) => res.json({ photodna: req.photodna }));
app.get('/metrics', async (_req, res) => {
  res.type('text/plain; version=0.0.4; charset=utf-8').send(await guard.metrics());
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', async () => {
  server.close();
  await guard.close();
  await emulator.close();
  process.exit(0);
});
