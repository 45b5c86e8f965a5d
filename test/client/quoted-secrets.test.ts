/**
 * A service answer that quotes what it was sent never carries a secret into a log line or an
 * error: a presigned URL's credentials, token (whole, each query value, decoded) and fragment in a
 * Match-by-URL answer; the NCMEC user name in a Report answer. A small HTTP server on loopback
 * plays the service and echoes them back.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import type { ReportBody } from '../../src/types.js';
import { closeServer, listen, memoryLogger } from './helpers.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A service answering every call with a 3004 whose exception quotes the request. */
async function quotingService(quote: (req: IncomingMessage, body: string) => string) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          Status: {
            Code: 3004,
            Description: 'Unhandled',
            Exception: quote(req, Buffer.concat(chunks).toString()),
          },
          TrackingId: 't',
        }),
      );
    });
  });
  const url = await listen(server);
  closers.push(() => closeServer(server));
  return url;
}

function client(baseUrl: string, logger: ReturnType<typeof memoryLogger>): PhotoDnaClient {
  const made = new PhotoDnaClient({
    apiKey: 'key-0123456789abcdef',
    baseUrl,
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    logger,
  });
  closers.push(() => made.close());
  return made;
}

/** A Report body of the required fields (the services here answer without reading it). */
function reportBody(): ReportBody {
  return {
    OrgName: 'Example Org',
    ReporterName: 'Trust and Safety',
    ReporterEmail: 'safety@example.com',
    IncidentTime: new Date().toISOString(),
    ReporteeName: '',
    ViolationContentCollection: [{ Name: 'a.png', Value: 'AAAA' }],
  };
}

const PRESIGNED =
  'https://reader:SECRETPW42@bucket.example/img.jpg?X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=SECRETSIG0123456789#frag-SECRETFRAG';

describe('answers quoting the request', () => {
  it.each([
    ['as sent', (value: string) => value],
    ['decoded', (value: string) => decodeURIComponent(value)],
    ['its signature alone', () => 'signature SECRETSIG0123456789 expired'],
    ['its credentials', () => 'https://reader:SECRETPW42@bucket.example/img.jpg: 403'],
    ['its fragment', () => 'anchor frag-SECRETFRAG'],
  ])('Match-by-URL: a URL quoted %s leaves no secret in logs or the error', async (_, quote) => {
    const url = await quotingService(
      (_req, body) => `Download of ${quote(JSON.parse(body).Value)} failed`,
    );
    const logger = memoryLogger();
    const error = await client(url, logger)
      .matchUrl(PRESIGNED)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error).toBeInstanceOf(Error);
    const text = `${logger.lines.join('\n')}\n${error?.message}\n${JSON.stringify(error)}`;
    expect(text).toContain('failed');
    expect(text).not.toMatch(/SECRETSIG|SECRETPW|SECRETFRAG|AKIA\/20240101/);
  });

  it('Report: the NCMEC user name quoted back stays out of logs and the error', async () => {
    const url = await quotingService(
      (req) => `CyberTipline login failed for user ${req.headers['x-usr']}`,
    );
    const logger = memoryLogger();
    const error = await client(url, logger)
      .report(reportBody(), { ncmecUser: 'acme-ncmec-USERNAME', ncmecPassword: 'pw-0123456789' })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    const text = `${logger.lines.join('\n')}\n${error?.message}`;
    expect(text).toContain('login failed');
    expect(text).not.toMatch(/acme-ncmec-USERNAME|pw-0123456789/);
  });
});

/** A service answering every call with success (a match for Match) whose texts quote the request's secrets. */
async function echoingSuccess() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const quoted = [
        req.headers['ocp-apim-subscription-key'],
        req.headers['x-usr'],
        req.headers['x-pwd'],
      ]
        .filter(Boolean)
        .join(' / ');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          Status: { Code: 3000, Description: `OK for ${quoted}` },
          TrackingId: 't',
          IsMatch: true,
          ContentId: `content ${quoted}`,
          MatchDetails: {
            MatchFlags: [
              {
                AdvancedInfo: [{ Key: 'MatchId', Value: `id ${quoted}` }],
                Source: `source ${quoted}`,
                Violations: [`violation ${quoted}`],
              },
            ],
          },
          EvaluateResponse: { note: [`score for ${quoted}`], [quoted]: 1 },
          Echo: { nested: [{ headers: quoted }] },
        }),
      );
    });
  });
  const url = await listen(server);
  closers.push(() => closeServer(server));
  return url;
}

describe('successful answers quoting the request', () => {
  it('Match: no secret in the result, its flags or its scores', async () => {
    const url = await echoingSuccess();
    const logger = memoryLogger();
    const result = await client(url, logger).match(Buffer.from('GIF89a'), 'image/gif');
    const text = `${JSON.stringify(result)}\n${logger.lines.join('\n')}`;
    expect(result.isMatch).toBe(true);
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('key-0123456789abcdef');
  });

  it('Report: no credential in the description or the raw answer', async () => {
    const url = await echoingSuccess();
    const logger = memoryLogger();
    const result = await client(url, logger).report(reportBody(), {
      ncmecUser: 'acme-ncmec-USERNAME',
      ncmecPassword: 'pw-0123456789',
    });
    const text = `${JSON.stringify(result)}\n${logger.lines.join('\n')}`;
    expect(result.statusCode).toBe(3000);
    expect(text).toContain('[redacted]');
    expect(text).not.toMatch(/acme-ncmec-USERNAME|pw-0123456789|key-0123456789abcdef/);
  });
});
