import express from 'express';
import { photodnaGuard } from '/work/main/src/index.ts';
const guard = photodnaGuard({ matcher: { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) }, cache: false });
const app = express();
app.post('/guarded', guard.any(), (req, res) => res.json({ n: (req.files as unknown[]).length }));
const server = app.listen(4555, '127.0.0.1', () => console.log('ready'));
setTimeout(() => { server.close(); process.exit(0); }, 12000);
