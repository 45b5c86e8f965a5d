// Prometheus metrics of a guard: GET /metrics answers the text exposition (scans, matches, calls,
// 429s, retries, latency histograms, cache hit ratio, queue depths).
// Run from the repository root: npm run build && node examples/metrics/server.mjs
// /metrics is for operators only: an uploader who could read matches_total would learn that an
// upload matched. So it has its own server on loopback (METRICS_PORT, default 9464), never the
// app's port; scrape it from the host, or put it behind your operators' auth.
import { once } from 'node:events';
import { STATUS_CODES } from 'node:http';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const guard = photodnaGuard({ ...photodna, policy: 'block' });
await guard.metrics(); // start collecting now (metrics are collected from the first call on)

const app = express();
app.post('/upload', guard.single('image'), (req, res) => res.json({ photodna: req.photodna }));

const operators = express();
operators.get('/metrics', async (_req, res) => {
  res.type('text/plain; version=0.0.4; charset=utf-8').send(await guard.metrics());
});

// Last, on both apps: whatever a route or middleware passes on is logged here and answered as
// JSON, never with its stack (Express's own handler sends the stack to the client unless
// NODE_ENV=production).
const answerError = (error, req, res, next) => {
  if (res.headersSent) return next(error);
  console.error(`${req.method} ${req.path} failed:`, error);
  const status = error.status >= 400 && error.status < 500 ? error.status : 500;
  const code = status === 500 ? 'INTERNAL' : 'BAD_REQUEST';
  res.status(status).json({ error: { code, message: STATUS_CODES[status] } });
};
app.use(answerError);
operators.use(answerError);

const metricsServer = operators.listen(Number(process.env.METRICS_PORT ?? 9464), '127.0.0.1');
await once(metricsServer, 'listening');
console.log(`metrics on http://127.0.0.1:${metricsServer.address().port}/metrics`);
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
await once(server, 'listening');
console.log(`listening on http://127.0.0.1:${server.address().port}`);

// Ctrl-C / SIGTERM: stop taking requests, let the guard go idle, stop the emulator.
async function shutdown() {
  const closed = (s) => new Promise((resolve) => s.close(resolve));
  await Promise.all([closed(server), closed(metricsServer)]);
  await guard.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
