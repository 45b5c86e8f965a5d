/**
 * Path rules compare case as the host's router does, where the adapter can read it (Express's
 * `case sensitive routing`), and as the host says for a Web `Request` (`info.caseSensitive`);
 * unknown, the stricter of the two readings applies. The hardening suite covers each framework's
 * defaults.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { photodnaGuard as fetchGuard } from '../../src/fetch.js';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

const emu = useEmulator();

/** Lets a match through under '/chat'; everything else falls back to block. */
const CHAT_FLAGGED = [{ path: '/chat', policy: 'flag' as const }];

describe("Express: path rules with the app's `case sensitive routing`", () => {
  it.each([
    [true, 422],
    [false, 200],
  ])(
    'case sensitive routing %s: /CHAT/avatar, routed to /:user/avatar, answers %i',
    async (sensitive, status) => {
      const app = express();
      app.set('case sensitive routing', sensitive);
      const guard = photodnaGuard(emu.options({ policy: CHAT_FLAGGED }));
      let runs = 0;
      app.use(guard);
      app.post('/:user/avatar', (_req, res) => {
        runs++;
        res.json({ user: _req.params.user });
      });
      try {
        const clean = await request(app)
          .post('/CHAT/avatar')
          .attach('f', png(200, 200, 9720), 'a.png');
        expect(clean.status).toBe(200); // routed: the guard's reading decides what a match does
        const answer = await request(app).post('/CHAT/avatar').attach('f', knownImage(), 'a.png');
        expect(answer.status).toBe(status);
        expect(runs).toBe(status === 200 ? 2 : 1);
      } finally {
        await guard.close();
      }
    },
  );
});

describe('fetch: info.caseSensitive', () => {
  it.each([
    { label: 'true', caseSensitive: true, status: 422 },
    { label: 'false', caseSensitive: false, status: 200 },
    { label: 'unset (the stricter reading)', caseSensitive: undefined, status: 422 },
  ])(
    '$label: a match at /CHAT/avatar under a /chat flag rule answers $status',
    async ({ caseSensitive, status }) => {
      const guard = fetchGuard(emu.options({ policy: CHAT_FLAGGED }));
      try {
        const form = new FormData();
        form.append('f', new Blob([knownImage()], { type: 'image/png' }), 'a.png');
        const upload = new Request('http://localhost/CHAT/avatar', { method: 'POST', body: form });
        const result = await guard.check(upload, {
          peer: '127.0.0.1',
          ...(caseSensitive === undefined ? {} : { caseSensitive }),
        });
        if (result.response) expect(result.response.status).toBe(status);
        else expect([200, result.photodna?.status]).toEqual([status, 'match']);
      } finally {
        await guard.close();
      }
    },
  );
});
