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

/**
 * A URL as it may appear in a log line or an error message: no user name or password, the query
 * string (presigned URLs carry tokens there) and the fragment replaced by `[redacted]`. Text that
 * is not a URL is replaced whole.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[redacted URL]';
  }
  const hidden = parsed.search !== '' || parsed.hash !== '';
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return hidden ? `${parsed.href}?[redacted]` : parsed.href;
}
