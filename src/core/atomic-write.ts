import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * Replaces `file` with `text` atomically (temp file, fsync, rename): a crash leaves either the old
 * file or the new one, never half of one. The temp name carries the pid, so two processes writing
 * the same file (the daemon and `npm run pair`) never share a temp file.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
