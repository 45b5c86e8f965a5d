import { describe, expect, it } from 'vitest';
import { FairShare, type KeySource } from '../../../src/core/fair-share.js';
import { GuardError } from '../../../src/errors.js';

/** A client whose key is counted each time the share asks for it. */
function client(key: string) {
  const source = {
    asked: 0,
    clientKeyBy: () => {
      source.asked++;
      return key;
    },
  };
  return source satisfies KeySource;
}

/** A call that holds its slot until released. */
function held() {
  let release: () => void = () => {};
  const done = new Promise<string>((resolve) => {
    release = () => resolve('done');
  });
  return { call: () => done, release: () => release() };
}

describe('FairShare', () => {
  it('reads no key while fewer files than the share are in flight in all', async () => {
    const share = new FairShare(3);
    const a = client('a');
    const b = client('b');
    const first = held();
    const second = held();
    const runs = [share.run(a, first.call), share.run(b, second.call)];
    expect(await share.run(a, async () => 'quick')).toBe('quick');
    first.release();
    second.release();
    expect(await Promise.all(runs)).toEqual(['done', 'done']);
    expect(a.asked + b.asked).toBe(0);
  });

  it('keys every file in flight once the total reaches the share: the bound is per client', async () => {
    const share = new FairShare(2);
    const flooder = client('flooder');
    const other = client('other');
    const one = held();
    const two = held();
    const runs = [share.run(flooder, one.call), share.run(flooder, two.call)];
    // Two of the flooder's files in flight (not keyed yet): a third is over its share.
    const over = await share.run(flooder, async () => 'never').catch((error: unknown) => error);
    expect(over).toBeInstanceOf(GuardError);
    expect((over as GuardError).code).toBe('SCAN_BUSY');
    // Another client still gets its own share while the flooder's files wait.
    expect(await share.run(other, async () => 'fine')).toBe('fine');
    one.release();
    two.release();
    await Promise.all(runs);
    // Everything released: the flooder's share is free again.
    expect(await share.run(flooder, async () => 'again')).toBe('again');
  });

  it('a rejected file holds nothing: the share frees when the held files finish', async () => {
    const share = new FairShare(1);
    const a = client('a');
    const one = held();
    const run = share.run(a, one.call);
    await expect(share.run(a, async () => 'x')).rejects.toMatchObject({ code: 'SCAN_BUSY' });
    await expect(share.run(a, async () => 'x')).rejects.toMatchObject({ code: 'SCAN_BUSY' });
    one.release();
    await run;
    expect(await share.run(a, async () => 'free')).toBe('free');
  });

  it("passes the host's clientKey function to the key source", async () => {
    const byHeader = (req: unknown) => String(req);
    const seen: unknown[] = [];
    const source: KeySource = {
      clientKeyBy: (fn) => {
        seen.push(fn);
        return 'k';
      },
    };
    const share = new FairShare(1, byHeader);
    const one = held();
    const run = share.run(source, one.call);
    await expect(share.run(source, async () => 'x')).rejects.toMatchObject({ code: 'SCAN_BUSY' });
    one.release();
    await run;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((fn) => fn === byHeader)).toBe(true);
  });
});
