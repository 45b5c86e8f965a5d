// A tiny pino-compatible logger: one JSON object per line on stdout, pino's field names and
// numeric levels, so log shippers that read pino read this too. Swap in `pino()` when you have it.
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 };

/** `createLogger('info')` → `{ debug, info, warn, error }`, each `(obj, msg?)` or `(msg)`. */
export function createLogger(level = 'info') {
  const min = LEVELS[level] ?? LEVELS.info;
  const method = (name) => (obj, msg) => {
    if (LEVELS[name] < min) return;
    const fields = typeof obj === 'string' ? { msg: obj } : { ...serialize(obj), msg };
    const line = { level: LEVELS[name], time: Date.now(), pid: process.pid, ...fields };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
  };
}

// Errors do not survive JSON.stringify ({}): spell them out, as pino's `err` serializer does.
function serialize(obj) {
  if (obj instanceof Error) return { err: serializeError(obj) };
  return Object.fromEntries(
    Object.entries(obj ?? {}).map(([key, value]) => [
      key,
      value instanceof Error ? serializeError(value) : value,
    ]),
  );
}

function serializeError(error) {
  return {
    type: error.name,
    message: error.message,
    ...(error.code === undefined ? {} : { code: error.code }),
    stack: error.stack,
    ...(error.cause instanceof Error ? { cause: serializeError(error.cause) } : {}),
  };
}
