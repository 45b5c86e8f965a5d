/**
 * Removes secrets (subscription key, NCMEC credentials) from text that may reach an error, an
 * event or a log, and caps its length. Every non-empty secret given is removed; callers choose
 * which values count as secret.
 */
export function redact(
  text: string,
  secrets: ReadonlyArray<string | undefined>,
  maxLength = 300,
): string {
  let out = text;
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('[redacted]');
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
