/**
 * Named PDQ lists kept live: each list has its own index, rebuilt when its file changes
 * (fs.watch on the file's folder for quick notice, a stat poll as the fallback, both debounced).
 * A new index replaces the old one in a single assignment, so a lookup sees either the old list
 * or the new one, never a mix; a file that fails to load keeps the old index and is reported.
 */
import { type FSWatcher, type StatWatcher, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { PdqListEntry } from './list-format.js';
import { loadPdqList, type PdqListSource } from './list-source.js';
import { PdqIndex } from './pdq-index.js';

/** What an index entry carries: its list's name and the metadata its file gave it. */
export interface ListedHash {
  list: string;
  metadata: PdqListEntry['metadata'];
}

export interface ListSetOptions {
  /** Reload lists when their files change. */
  watch: boolean;
  /** Stat poll interval of the fallback watcher, in ms. */
  pollIntervalMs: number;
  /** Quiet time after the last change before a reload, in ms. */
  debounceMs: number;
  onReload?: (info: { list: string; size: number }) => void;
  onError?: (error: Error) => void;
  /**
   * Block lists: a file or URL that holds no hash is refused (a download that failed, a file
   * caught while it was truncated), at the first load and on reload, which keeps the list in use.
   * A list given in code may be empty.
   */
  refuseEmpty?: boolean;
}

export class PdqListSet {
  /** Resolves when every list has loaded once; rejects if any could not. */
  readonly ready: Promise<void>;
  readonly #sources: PdqListSource[];
  readonly #options: ListSetOptions;
  readonly #indexes = new Map<string, PdqIndex<ListedHash>>();
  readonly #watchers: Array<FSWatcher | { close(): void }> = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Per list, the reload in progress (reloads of one list never overlap). */
  readonly #loading = new Map<string, Promise<void>>();
  #closed = false;

  constructor(sources: PdqListSource[], options: ListSetOptions) {
    this.#sources = sources;
    this.#options = options;
    const first = sources.map((source) => {
      const load = this.#load(source);
      // A reload asked for during the first load runs after it, never beside it.
      const settled = load.then(
        () => undefined,
        () => undefined,
      );
      this.#loading.set(source.name, settled);
      return load;
    });
    // Watch from the start, before the first read: a file that changes while the lists load (a
    // list updated as the service starts) is read again, not missed until its next change; and
    // a failed first load is retried once the file is fixed.
    if (options.watch) for (const source of sources) this.#watch(source);
    this.ready = Promise.allSettled(first).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    // A caller that never awaits `ready` still hears of failures through `match`.
    this.ready.catch(() => {});
  }

  /** Whether every list has loaded (at least once). */
  get complete(): boolean {
    return this.#indexes.size === this.#sources.length;
  }

  /** The current indexes, one per list that has loaded. */
  indexes(): ReadonlyMap<string, PdqIndex<ListedHash>> {
    return this.#indexes;
  }

  /** Reloads one list now (also what the watchers call). */
  reload(name: string): Promise<void> {
    const source = this.#sources.find((s) => s.name === name);
    if (!source) return Promise.reject(new Error(`no PDQ list named '${name}'`));
    const previous = this.#loading.get(name) ?? Promise.resolve();
    const next = previous
      .then(() => this.#load(source))
      .catch((error: unknown) => {
        this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
      });
    this.#loading.set(name, next);
    return next;
  }

  async #load(source: PdqListSource): Promise<void> {
    const list = await loadPdqList(source);
    if (this.#options.refuseEmpty && list.entries.length === 0 && !('hashes' in source)) {
      throw new Error(
        `the PDQ list '${list.name}' holds no hash (an empty or truncated file, a failed download?): ${this.#indexes.has(list.name) ? 'the list loaded before stays in use' : 'nothing can be checked against it'}`,
      );
    }
    const index = await PdqIndex.create(
      list.entries.map((entry) => ({
        hash: entry.hash,
        entry: { list: list.name, metadata: entry.metadata },
      })),
    );
    if (this.#closed) return;
    this.#indexes.set(list.name, index);
    this.#options.onReload?.({ list: list.name, size: index.size });
  }

  #schedule(name: string): void {
    if (this.#closed) return;
    clearTimeout(this.#timers.get(name));
    const timer = setTimeout(() => {
      this.#timers.delete(name);
      void this.reload(name);
    }, this.#options.debounceMs);
    timer.unref();
    this.#timers.set(name, timer);
  }

  #watch(source: PdqListSource): void {
    if (!('path' in source)) return;
    const path = resolve(source.path);
    const file = basename(path);
    try {
      // Watch the folder: editors and `mv` replace the file, which ends a watch on the file itself.
      const watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === file) this.#schedule(source.name);
      });
      watcher.on('error', () => watcher.close());
      this.#watchers.push(watcher);
    } catch {
      // No fs.watch on this file system: the poll below still notices changes.
    }
    const listener = () => this.#schedule(source.name);
    const poll: StatWatcher = watchFile(
      path,
      { interval: this.#options.pollIntervalMs, persistent: false },
      listener,
    );
    poll.unref();
    this.#watchers.push({ close: () => unwatchFile(path, listener) });
  }

  /** Stops watching; pending reloads are dropped. */
  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.length = 0;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
