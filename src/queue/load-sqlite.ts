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

/**
 * Imports the optional peer dependency better-sqlite3 and loads its native module, with a clear
 * error when either is missing: the package not installed, or its native module not built for
 * this Node.js (its install script skipped, as npm 12 does unless the project allows it, or
 * built for another Node.js version).
 */
export async function loadSqlite(): Promise<SqliteConstructor> {
  let Database: SqliteConstructor;
  try {
    const module = (await import('better-sqlite3')) as unknown as {
      default?: SqliteConstructor;
    };
    Database = module.default ?? (module as unknown as SqliteConstructor);
    if (typeof Database !== 'function') throw new TypeError('better-sqlite3 exports no Database');
  } catch (error) {
    throw notConfiguredError(
      "the embedded scan queue needs the optional dependency 'better-sqlite3' (12.x): npm install better-sqlite3",
      error,
    );
  }
  try {
    // better-sqlite3 loads its native module on the first `new Database()`.
    new Database(':memory:').close();
  } catch (error) {
    throw notConfiguredError(
      "the embedded scan queue cannot load better-sqlite3's native module (not built for this Node.js: its install script did not run, or ran for another version): npm install-scripts approve better-sqlite3 && npm rebuild better-sqlite3",
      error,
    );
  }
  return Database;
}
