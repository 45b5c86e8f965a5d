// Before `tsc`: an empty dist/, so that the package holds only what this build emits (tsc never
// deletes the output of a source file that was renamed or removed, nor of an option turned off).
import { rmSync } from 'node:fs';

rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
