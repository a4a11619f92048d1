import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { MybotError } from './errors.ts';

/** A store's file that several processes read and write (server roles on one workspace): see `withFileLock`. */
export interface Sharing {
  shared?: boolean;
}

export interface LockOptions {
  /** How long to wait for another process's lock before giving up with a LockBusyError. */
  waitMs?: number;
  /** A lock older than this is left by a process that died (or hung) while holding it, and is broken. */
  staleMs?: number;
}

/**
 * Holders keep the lock for one read-modify-write of a small JSON file (well under a
 * millisecond on a local disk): waiting a second means the holder is stuck or gone, and a lock
 * three seconds old is stale. The wait blocks the event loop, so it is bounded.
 */
const WAIT_MS = 1_000;
const STALE_MS = 3_000;
const MAX_PAUSE_MS = 16;
const HOST = hostname();
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Another process held the lock for longer than the wait. */
export class LockBusyError extends MybotError {}

interface Holder {
  pid?: number;
  host?: string;
  at: number;
  /** What the lock file holds: it carries a random id, as an inode number is reused at once. */
  text: string;
}

/**
 * Runs `fn` while holding `<file>.lock`, an exclusive lock between the processes that share the
 * workspace: created with O_EXCL, holding the pid, host, time and a random id; removed after
 * `fn`. A lock whose holder is gone (its pid is not running on this host, or it is older than
 * `staleMs`, for a holder on another host of a shared file system) is broken. `fn` must be
 * synchronous and short: the lock is not re-entrant, and waiting for it blocks the event loop
 * for up to `waitMs`.
 */
export function withFileLock<T>(file: string, fn: () => T, options: LockOptions = {}): T {
  const lock = `${file}.lock`;
  const mine = acquire(lock, options.waitMs ?? WAIT_MS, options.staleMs ?? STALE_MS);
  try {
    return fn();
  } finally {
    releaseOwn(lock, mine);
  }
}

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock; returns what the lock file holds. */
function acquire(lock: string, waitMs: number, staleMs: number): string {
  const deadline = Date.now() + waitMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    const mine = tryCreate(lock);
    if (mine !== undefined) return mine;
    const holder = readHolder(lock);
    if (holder === undefined) continue; // released in between
    if (isStale(holder, staleMs) && breakStale(lock, holder, staleMs)) continue;
    if (Date.now() >= deadline) {
      const who = holder.pid === undefined ? 'a process' : `pid ${holder.pid} on ${holder.host}`;
      throw new LockBusyError(`${lock} is held by ${who} for ${Date.now() - holder.at} ms: another mybot process is writing the file; if none is running, delete the lock file`);
    }
    Atomics.wait(sleeper, 0, 0, pause);
  }
}

/** What the new lock file holds, or undefined when the lock exists. */
function tryCreate(lock: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
  try {
    const text = JSON.stringify({ pid: process.pid, host: HOST, at: Date.now(), id: randomBytes(6).toString('hex') });
    writeSync(fd, text);
    return text;
  } catch (err) {
    rmSync(lock, { force: true });
    throw err;
  } finally {
    closeSync(fd);
  }
}

function readHolder(lock: string): Holder | undefined {
  let mtime: number;
  let text: string;
  try {
    mtime = statSync(lock).mtimeMs;
    text = readFileSync(lock, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { pid, host, at } = JSON.parse(text) as { pid?: unknown; host?: unknown; at?: unknown };
    if (typeof pid === 'number' && typeof host === 'string' && typeof at === 'number') return { pid, host, at, text };
  } catch {
    // created, not yet written (or torn by a crash): its age alone tells
  }
  return { at: mtime, text };
}

function isStale(holder: Holder, staleMs: number): boolean {
  if (Date.now() - holder.at > staleMs) return true;
  if (holder.pid === undefined || holder.host !== HOST) return false;
  // the lock is never held across an await, so one naming this process is left from an earlier
  // process with the same pid (a container restarted as pid 1)
  return holder.pid === process.pid || !isAlive(holder.pid);
}

/**
 * Removes a stale lock; true when it did, or when it is gone. Breakers take turns under
 * `<lock>.break`, and remove the lock only if it is still the one judged stale: two processes that
 * both saw it stale must not remove the lock the first of them then took.
 */
function breakStale(lock: string, seen: Holder, staleMs: number): boolean {
  const guard = `${lock}.break`;
  const mine = tryCreate(guard);
  if (mine === undefined) {
    // another process is breaking it; a guard left by one that died doing so is removed once old
    const breaker = readHolder(guard);
    if (breaker && Date.now() - breaker.at > staleMs) releaseOwn(guard, breaker.text);
    return false;
  }
  try {
    const now = readHolder(lock);
    if (now === undefined) return true;
    if (now.text !== seen.text || now.at !== seen.at || !isStale(now, staleMs)) return false;
    releaseOwn(lock, now.text);
    return true;
  } finally {
    releaseOwn(guard, mine);
  }
}

/** Removes the lock file if it still holds `text`: a lock broken as stale and taken by another process stays. */
function releaseOwn(lock: string, text: string): void {
  try {
    if (readFileSync(lock, 'utf8') === text) unlinkSync(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
