import { describe, expect, it } from 'vitest';
import { RequestContext } from '../../../src/core/request-context.js';
import { TestView } from '../../helpers/core-view.js';

describe('RequestContext', () => {
  it("the request's signal takes a listener per file past Node's default of 10 without a leak warning", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const ctx = new RequestContext(new TestView(Buffer.alloc(0), undefined));
      for (let i = 0; i < 40; i++) ctx.signal.addEventListener('abort', () => {});
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
