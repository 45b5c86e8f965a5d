import { notConfiguredError } from '../client/failures.js';

/** The parts of better-sqlite3 the embedded queue uses. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
export interface SqliteDatabase {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): SqliteStatement;
  /** `fn` wrapped in BEGIN / COMMIT (ROLLBACK when it throws). */
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}
type SqliteConstructor = new (path: string, options?: { timeout?: number }) => SqliteDatabase;

/** Imports the optional peer dependency better-sqlite3, with a clear error when it is missing. */
export async function loadSqlite(): Promise<SqliteConstructor> {
  try {
    const module = (await import('better-sqlite3')) as unknown as {
      default?: SqliteConstructor;
    };
    const Database = module.default ?? (module as unknown as SqliteConstructor);
    if (typeof Database !== 'function') throw new TypeError('better-sqlite3 exports no Database');
    return Database;
  } catch (error) {
    throw notConfiguredError(
      "the embedded scan queue needs the optional dependency 'better-sqlite3' (12.x): npm install better-sqlite3",
      error,
    );
  }
}
