import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../../src/core/policy.js';
import type { RequestContext } from '../../../src/core/request-context.js';
import type { PathCase } from '../../../src/core/request-view.js';

const ctx = (
  route: string,
  pathCase: PathCase = 'insensitive',
): Pick<RequestContext, 'route' | 'raw' | 'pathCase'> => ({
  route,
  raw: { marker: route },
  pathCase,
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

  it('path rules compare case as the router does, and the stricter reading wins when unknown', async () => {
    const rules = [
      { path: '/chat', policy: 'flag' as const },
      // As route-options.ts parses a RegExp rule: case-insensitive.
      { path: /^\/evidence\/\d+$/i, policy: 'quarantine' as const },
      { path: '/', policy: 'flag' as const },
    ];
    const chatOnly = rules.slice(0, 1);
    // A case-sensitive router hands /CHAT/avatar to another route: not the '/chat' rule's.
    expect(await resolvePolicy(chatOnly, ctx('/CHAT/avatar', 'sensitive'))).toBe('block');
    expect(await resolvePolicy(chatOnly, ctx('/chat/avatar', 'sensitive'))).toBe('flag');
    expect(await resolvePolicy(chatOnly, ctx('/CHAT/avatar', 'insensitive'))).toBe('flag');
    expect(await resolvePolicy(rules, ctx('/EVIDENCE/1', 'sensitive'))).toBe('flag');
    expect(await resolvePolicy(rules, ctx('/EVIDENCE/1', 'insensitive'))).toBe('quarantine');
    // Unknown: the stricter of both readings (block over flag, quarantine over flag).
    expect(await resolvePolicy(chatOnly, ctx('/CHAT/avatar', 'unknown'))).toBe('block');
    expect(await resolvePolicy(rules, ctx('/EVIDENCE/1', 'unknown'))).toBe('quarantine');
    expect(await resolvePolicy(rules, ctx('/chat/1', 'unknown'))).toBe('flag');
  });
});
