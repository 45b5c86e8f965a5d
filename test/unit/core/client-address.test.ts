import { describe, expect, it } from 'vitest';
import { clientNetwork, reportableIp, validIp } from '../../../src/core/client-address.js';

describe('validIp', () => {
  it('keeps IPv4 and IPv6 addresses, trimmed', () => {
    expect(validIp(' 198.51.100.4 ')).toBe('198.51.100.4');
    expect(validIp('2001:db8::1')).toBe('2001:db8::1');
  });

  it('keeps a zone id of an interface name or index', () => {
    expect(validIp('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(validIp('fe80::1%15')).toBe('fe80::1%15');
    expect(validIp(`fe80::1%${'a'.repeat(15)}`)).toBe(`fe80::1%${'a'.repeat(15)}`);
  });

  it('refuses a zone id longer than any interface name (net.isIP takes any)', () => {
    expect(validIp(`fe80::1%${'a'.repeat(16)}`)).toBeUndefined();
    expect(validIp(`fe80::1%${'a'.repeat(300)}`)).toBeUndefined();
  });

  it('refuses what is not an address', () => {
    expect(validIp('unknown')).toBeUndefined();
    expect(validIp(undefined)).toBeUndefined();
  });
});

describe('clientNetwork', () => {
  it('drops a derived address the uploader wrote with a long zone id, keeping the peer', () => {
    const network = clientNetwork(
      { 'x-forwarded-for': `fe80::1%${'x'.repeat(300)}` },
      '127.0.0.1',
      `fe80::1%${'x'.repeat(300)}`,
    );
    expect(network.peer).toBe('127.0.0.1');
    expect(network.derived).toBeUndefined();
    expect(network.forwardedFor).toHaveLength(308);
  });

  it('reports an address without its zone id', () => {
    expect(reportableIp('fe80::1%eth0')).toBe('fe80::1');
  });
});
