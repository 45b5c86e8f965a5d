/**
 * The `on` option is the README's "shortcut for guard.on(...)": every event the guard emits can
 * be listened to through it, `report` included (filed through `event.report()` in `onMatch`).
 */
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type Guard, photodnaGuard, type ReportEvent } from '../../src/index.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { REPORTER } from '../helpers/reporter.js';

const emu = useEmulator();
let guard: Guard | undefined;
afterEach(async () => {
  await guard?.close();
  guard = undefined;
});

describe('the on option', () => {
  it('takes a report listener, which hears the report onMatch filed', async () => {
    const reports: ReportEvent[] = [];
    guard = photodnaGuard(
      emu.options({
        reporter: REPORTER,
        onMatch: async (event) => {
          await event.report();
        },
        on: { report: (event) => reports.push(event) },
      }),
    );
    const app = express();
    app.post('/upload', guard.single('f'), (_req, res) => res.json({ ok: true }));

    const answer = await request(app).post('/upload').attach('f', knownImage(), 'a.png');

    expect(answer.status).toBe(422);
    expect(reports).toEqual([
      { incident: expect.any(String), route: '/upload', ok: true, statusCode: 3000 },
    ]);
    expect(emu.emulator.testReports).toHaveLength(1);
  });
});
