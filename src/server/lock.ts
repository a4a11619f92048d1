import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import { isAlive } from '../core/file-lock.ts';

/** One daemon per workspace: two would interleave writes to one journal. */
export function takeLock(pidFile: string): void {
  const pid = lockHolder(pidFile);
  if (pid !== undefined && pid !== process.pid) {
    throw new ConfigError(`another mybot (pid ${pid}) is running on this workspace: stop it first, or use another --workspace`);
  }
  writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
}

export function releaseLock(pidFile: string): void {
  rmSync(pidFile, { force: true });
}

/** The pid of the live daemon holding the workspace, if any (a pid file left by a crash does not count). */
export function lockHolder(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return pid && isAlive(pid) ? pid : undefined;
}
