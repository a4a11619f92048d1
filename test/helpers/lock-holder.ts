/**
 * A real process that takes the file lock of `<file>` (argv[2]), says "held", and keeps it until
 * it is killed: for the test of a holder that dies with the lock.
 */
import { writeSync } from 'node:fs';
import { withFileLock } from '../../src/core/file-lock.ts';

withFileLock(process.argv[2]!, () => {
  writeSync(1, 'held\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
