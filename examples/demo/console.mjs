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
    // Reports go to the emulator; without it (PDQ_LIST), reporting is not configured.
    ...(emulatorUrl ? { apiKey: 'demo-key', baseUrl: emulatorUrl } : {}),
    reporter: {
      orgName: 'photodna-guard demo',
      reporterName: 'Demo Reviewer',
      reporterEmail: 'reviewer@example.com',
      ncmecUser: 'demo-user',
      ncmecPassword: 'demo-password',
      isTest: true,
    },
  });
  app.use('/console', console_.express());
  return { token, close: () => console_.close() };
}
