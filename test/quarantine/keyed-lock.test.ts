/**
 * The in-process queue ahead of the lock file: one task per key at a time, in order, and a
 * caller whose signal aborts leaves the queue at once without changing the turn of the others.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/quarantine/keyed-lock.js';

/** A task that records its start and ends when `finish` is called. */
function gate(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let started!: () => void;
  const start = new Promise<void>((resolve) => {
    started = resolve;
  });
  const task = async () => {
    log.push(name);
    started();
    await done;
    return name;
  };
  return { task, start, finish };
}

describe('KeyedLock', () => {
  it('runs tasks of one key one at a time, in order, and a failed task ends its turn', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = gate(log, 'a');
    const first = lock.run('k', a.task);
    const failing = lock.run('k', async () => {
      log.push('b');
      throw new Error('b failed');
    });
    const third = lock.run('k', async () => log.push('c'));
    const other = lock.run('other', async () => log.push('other'));
    await other;
    expect(log).toEqual(['a', 'other']);
    a.finish();
    await expect(first).resolves.toBe('a');
    await expect(failing).rejects.toThrow('b failed');
    await third;
    expect(log).toEqual(['a', 'other', 'b', 'c']);
  });

  it('leaves the queue at once when the signal aborts: its reason, the task not run, the others in turn', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = gate(log, 'a');
    const first = lock.run('k', a.task);
    await a.start;
    const stop = new AbortController();
    const waiting = lock.run('k', async () => log.push('b'), stop.signal);
    const c = gate(log, 'c');
    const after = lock.run('k', c.task);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);
    stop.abort();
    // Before: the signal was not heard; the call waited for `a` (up to its 15 s lock wait).
    await expect(waiting).rejects.toBe(stop.signal.reason);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    expect(log, '`a` still holds the key: `c` waits for it').toEqual(['a']);
    a.finish();
    await first;
    await c.start;
    c.finish();
    await expect(after).resolves.toBe('c');
    expect(log).toEqual(['a', 'c']);
  });

  it('never runs a task whose signal is already aborted, and keeps no listener on one never aborted', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const aborted = AbortSignal.abort(new Error('gone'));
    await expect(lock.run('k', async () => log.push('x'), aborted)).rejects.toThrow('gone');
    const a = gate(log, 'a');
    const first = lock.run('k', a.task);
    const kept = new AbortController().signal;
    const second = lock.run('k', async () => log.push('b'), kept);
    expect(getEventListeners(kept, 'abort')).toHaveLength(1);
    a.finish();
    await first;
    await second;
    expect(log).toEqual(['a', 'b']);
    expect(getEventListeners(kept, 'abort')).toHaveLength(0);
  });
});
