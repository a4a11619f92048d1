/**
 * Vitest global setup: every temp folder the suite makes (test workspaces, the daemons' own, pm2
 * homes) goes under one folder of this run, removed at the end, also when a test failed before
 * its own clean-up. TMPDIR is read by os.tmpdir() at each call and inherited by the test workers
 * and the daemons they start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'mybot-test-run-'));
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
