// Preloaded with --import by bench/queue.ts: prints the process's peak RSS (KiB) on exit.
process.on('exit', () => {
  process.stderr.write(`\nmaxrss-kib=${process.resourceUsage().maxRSS}\n`);
});
