import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `photodna-guard quarantine ...` in a child process with a clean environment (nothing from
 * the developer's PHOTODNA_* / NCMEC_* variables) plus `env`.
 */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(PHOTODNA_|NCMEC_)/.test(key)),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'quarantine', ...args],
      { env: { ...base, ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
