/**
 * The reviewer CLI's side of the audit log: printing and verifying it (`quarantine audit`), and
 * the reviewer the CLI acts as (`cli:<os user>`, auditing to DIR/audit.log).
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { printable, printableJson } from '../printable.js';
import type { FileQuarantineStore } from '../quarantine/types.js';
import type { Reviewer } from '../review/actions.js';
import { AUDIT_FILE, createAuditLog } from '../review/audit-log.js';

export async function auditFile(
  path: string,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const log = createAuditLog(path);
  if (values.verify) {
    const result = await log.verify();
    if (!result.ok) {
      process.stderr.write(`audit log ${log.path}: line ${result.line}: ${result.reason}\n`);
      return 1;
    }
    process.stdout.write(
      `audit log ${log.path}: ${result.entries} entries, chain intact (head ${result.head})\n`,
    );
    return 0;
  }
  for (const entry of await log.read()) {
    // An actor the host's `authorize` named, a reason a moderator typed: printable.
    if (values.json) process.stdout.write(`${printableJson(entry)}\n`);
    else {
      const result = entry.ok ? '' : ' (refused/failed)';
      const detail = entry.detail ? `: ${entry.detail}` : '';
      const line = `${entry.seq} ${entry.at} ${entry.actor} ${entry.action} ${entry.incident}${result}${detail}`;
      process.stdout.write(`${printable(line)}\n`);
    }
  }
  return 0;
}

/** The CLI acts as `cli:<os user>` and audits to DIR/audit.log. */
export function reviewerOf(store: FileQuarantineStore): Reviewer {
  return { store, audit: createAuditLog(join(store.dir, AUDIT_FILE)), actor: `cli:${osUser()}` };
}

export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}
