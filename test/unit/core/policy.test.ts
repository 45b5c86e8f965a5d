import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../../src/core/policy.js';
import type { RequestContext } from '../../../src/core/request-context.js';

const ctx = (route: string): Pick<RequestContext, 'route' | 'raw'> => ({
  route,
  raw: { marker: route },
});

describe('resolvePolicy', () => {
  it('returns a fixed policy as is', async () => {
    expect(await resolvePolicy('flag', ctx('/x'))).toBe('flag');
  });

  it('path rules: first match wins, prefixes match on segment boundaries, RegExps test the path, default block', async () => {
    const rules = [
      { path: '/chat', policy: 'flag' as const },
      { path: /^\/evidence\/\d+$/, policy: 'quarantine' as const },
      { path: '/', policy: 'flag' as const },
    ];
    expect(await resolvePolicy(rules, ctx('/chat'))).toBe('flag');
    expect(await resolvePolicy(rules, ctx('/chat/1'))).toBe('flag');
    expect(await resolvePolicy(rules, ctx('/evidence/12'))).toBe('quarantine');
    expect(await resolvePolicy(rules.slice(0, 2), ctx('/chatroom'))).toBe('block');
    expect(await resolvePolicy(rules.slice(0, 2), ctx('/evidence/x'))).toBe('block');
    expect(await resolvePolicy(rules, ctx('/anything'))).toBe('flag');
  });

  it('calls a policy function with the framework request, sync or async', async () => {
    expect(
      await resolvePolicy(
        (req) => ((req as { marker: string }).marker === '/a' ? 'flag' : 'block'),
        ctx('/a'),
      ),
    ).toBe('flag');
    expect(await resolvePolicy(async () => 'quarantine' as const, ctx('/a'))).toBe('quarantine');
  });

  it('refuses a function answer that is not a policy', async () => {
    await expect(resolvePolicy(() => 'allow' as never, ctx('/a'))).rejects.toThrow(/allow/);
  });
});
