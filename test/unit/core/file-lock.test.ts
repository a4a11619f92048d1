import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockBusyError, withFileLock } from '../../../src/core/file-lock.ts';
import { PROJECT_ROOT } from '../../helpers/daemon.ts';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-lock-'));
  dirs.push(dir);
  return join(dir, 'state.json');
}

/** A lock file as another process leaves it. */
function lockAs(file: string, holder: { pid: number; host: string; at: number }): void {
  writeFileSync(`${file}.lock`, JSON.stringify(holder));
}

/** The pid of a process that ran on this host and is gone. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

function holdInChild(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lock-holder.ts', file], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve(child));
    child.on('exit', (code) => reject(new Error(`the lock holder exited early with ${code}`)));
  });
}

describe('withFileLock', () => {
  it('holds <file>.lock (pid, host, time, a random id) while the function runs, returns its value and removes the lock', () => {
    const file = tempFile();
    const seen = withFileLock(file, () => JSON.parse(readFileSync(`${file}.lock`, 'utf8')) as unknown);
    expect(seen).toEqual({ pid: process.pid, host: hostname(), at: expect.any(Number), id: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(() => withFileLock(file, () => { throw new Error('inside'); })).toThrow('inside');
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('waits for a live holder on this host, then gives up with an error naming the lock and the holder', () => {
    const file = tempFile();
    lockAs(file, { pid: process.ppid, host: hostname(), at: Date.now() });
    const started = Date.now();
    expect(() => withFileLock(file, () => 'never', { waitMs: 60 })).toThrow(LockBusyError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
    expect(() => withFileLock(file, () => 'never', { waitMs: 0 })).toThrow(new RegExp(`state.json.lock is held by pid ${process.ppid} on ${hostname()} for \\d+ ms: another mybot process`));
    expect(existsSync(`${file}.lock`)).toBe(true);
  });

  it('breaks a lock whose holder is gone from this host at once, and one from another host once it is stale', () => {
    const file = tempFile();
    lockAs(file, { pid: deadPid(), host: hostname(), at: Date.now() });
    expect(withFileLock(file, () => 'mine', { waitMs: 0 })).toBe('mine');

    lockAs(file, { pid: 1, host: 'elsewhere', at: Date.now() });
    expect(() => withFileLock(file, () => 'never', { waitMs: 20, staleMs: 10_000 })).toThrow(/held by pid 1 on elsewhere/);
    lockAs(file, { pid: 1, host: 'elsewhere', at: Date.now() - 10_001 });
    expect(withFileLock(file, () => 'mine', { waitMs: 0, staleMs: 10_000 })).toBe('mine');

    // created but never written (its holder died between the two): its age tells
    writeFileSync(`${file}.lock`, '');
    expect(() => withFileLock(file, () => 'never', { waitMs: 20, staleMs: 10_000 })).toThrow(/held by a process/);
    expect(withFileLock(file, () => 'mine', { waitMs: 100, staleMs: 30 })).toBe('mine');
    expect(readdirSync(join(file, '..'))).toEqual([]);
  });

  it('a lock naming this very process is left from an earlier one with the same pid (a restarted container) and is broken', () => {
    const file = tempFile();
    lockAs(file, { pid: process.pid, host: hostname(), at: Date.now() });
    expect(withFileLock(file, () => 'mine', { waitMs: 0 })).toBe('mine');
  });

  it('does not remove a lock another process took after breaking ours as stale', () => {
    const file = tempFile();
    withFileLock(file, () => {
      unlinkSync(`${file}.lock`);
      lockAs(file, { pid: process.ppid, host: hostname(), at: Date.now() });
    });
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ pid: process.ppid });
  });

  it('a holder killed with SIGKILL while holding the lock does not hold up the next process', async () => {
    const file = tempFile();
    const holder = await holdInChild(file);
    expect(() => withFileLock(file, () => 'never', { waitMs: 30 })).toThrow(new RegExp(`held by pid ${holder.pid}`));
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    const started = Date.now();
    expect(withFileLock(file, () => 'mine')).toBe('mine');
    expect(Date.now() - started).toBeLessThan(500);
  });
});
