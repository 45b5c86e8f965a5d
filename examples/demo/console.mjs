// The demo's moderators' console at /console: the quarantine store's incidents, the live scan
// stream, reports to the emulator's NCMEC *test* endpoint. A fresh token is printed once.
import { randomBytes } from 'node:crypto';
import { createConsole } from 'photodna-guard/console';

export function mountConsole(app, guard, { dir, emulatorUrl }) {
  const token = randomBytes(24).toString('base64url');
  const console_ = createConsole({
    dir,
    token,
    tokenActor: 'demo reviewer',
    events: guard, // guard.on / guard.off: scans, matches and errors for the live panel
    // Reports go to the emulator's NCMEC test endpoint, with demo credentials it accepts.
    // Without it (PDQ_LIST) reporting stays off: no reporter, so a PHOTODNA_API_KEY in your
    // shell never sends a demo upload to the real service.
    ...(emulatorUrl
      ? {
          apiKey: 'demo-key',
          baseUrl: emulatorUrl,
          reporter: {
            orgName: 'photodna-guard demo',
            reporterName: 'Demo Reviewer',
            reporterEmail: 'reviewer@example.com',
            ncmecUser: 'demo-user',
            ncmecPassword: 'demo-password',
            isTest: true,
          },
        }
      : {}),
  });
  app.use('/console', console_.express());
  return { token, close: () => console_.close() };
}
