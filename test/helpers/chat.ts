import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { PROJECT_ROOT } from './daemon.ts';

/** A fresh temp workspace with this config.user.yaml. */
export function workspaceWith(config: Record<string, unknown>): string {
  const workspace = mkdtempSync(join(tmpdir(), 'mybot-chat-'));
  writeFileSync(join(workspace, 'config.user.yaml'), stringify(config));
  return workspace;
}

/**
 * `npm run chat` as a child process: types `lines` into it, closes its input, and returns what it
 * printed once it exits (it answers everything typed before it stops).
 */
export function chat(workspace: string, lines: string[], timeoutMs = 20_000): Promise<{ output: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--chat', '--workspace', workspace], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NODE_ENV: 'test', MYBOT_LOG_LEVEL: 'debug', OPENAI_API_KEY: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chat did not finish in ${timeoutMs} ms; it printed:\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ output, code });
    });
  });
}
