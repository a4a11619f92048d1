import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../helpers/daemon.ts';

const PROCESSES = 3;
const ROUNDS = 40;

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts a hammering process; resolves once it is ready to start on a line from stdin, and with its end. */
function hammer(workspace: string, name: string): Promise<{ child: ChildProcess; done: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/shared-stores-child.ts', workspace, name, String(ROUNDS)], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const done = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 && out.includes('done') ? resolve() : reject(new Error(`${name} exited with ${code}`))));
  });
  done.catch(() => undefined);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out === 'ready\n') resolve({ child, done });
    });
    done.then(() => reject(new Error(`${name} ended before it was ready`)), reject);
  });
}

describe('stores shared by several processes (shared: true)', () => {
  it(`${PROCESSES} processes writing every shared store of one workspace at once lose no update`, async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-shared-'));
    dirs.push(workspace);
    writeFileSync(join(workspace, 'counter'), '0');
    const started = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => hammer(workspace, `p${i}`)));
    for (const { child } of started) child.stdin!.write('go\n');
    await Promise.all(started.map((s) => s.done));

    const total = PROCESSES * ROUNDS;
    const names = Array.from({ length: PROCESSES }, (_, p) => Array.from({ length: ROUNDS }, (_, i) => `p${p}-${i}`)).flat().sort();
    expect(Number(readFileSync(join(workspace, 'counter'), 'utf8'))).toBe(total);
    const usage = JSON.parse(readFileSync(join(workspace, 'usage.json'), 'utf8'));
    expect(usage.users['telegram:1']).toEqual({ messages: total, promptTokens: 10 * total, completionTokens: 5 * total, cost: 0 });
    expect(usage.chats['telegram:1'].messages).toBe(total);
    expect(usage.recent['user:telegram:1']).toHaveLength(total);
    const costs = JSON.parse(readFileSync(join(workspace, 'costs.json'), 'utf8'));
    expect(costs.models.m).toEqual({ today: { promptTokens: 10 * total, completionTokens: 5 * total, cost: 0 }, month: { promptTokens: 10 * total, completionTokens: 5 * total, cost: 0 } });
    const pairing = JSON.parse(readFileSync(join(workspace, 'pairing.json'), 'utf8'));
    expect(pairing.pending.map((p: { userId: string }) => p.userId).sort()).toEqual(names);
    const schedules = JSON.parse(readFileSync(join(workspace, 'schedules.json'), 'utf8'));
    expect(schedules.jobs.map((j: { id: string }) => j.id).sort()).toEqual(names);
    const memory = readFileSync(join(workspace, 'MEMORY.md'), 'utf8').trim().split('\n');
    expect(memory.map((line) => line.slice(2)).sort()).toEqual(names);
    // no lock and no temp file left behind
    expect(readdirSync(workspace).sort()).toEqual(['MEMORY.md', 'costs.json', 'counter', 'pairing.json', 'schedules.json', 'usage.json']);
  });
});
