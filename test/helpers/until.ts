/**
 * Polls `condition` every 10 ms until it holds, or fails naming `what` after `timeoutMs`: how a
 * test waits for something to happen, never a fixed sleep before an assertion. The deadline is
 * generous because CI may share the machine's two cores.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
