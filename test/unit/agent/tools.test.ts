import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileTools } from '../../../src/agent/tools/files.ts';
import { bashTool } from '../../../src/agent/tools/bash.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'mybot-tools-'));
  const workspace = join(root, 'ws');
  mkdirSync(join(workspace, 'notes'), { recursive: true });
  mkdirSync(join(workspace, '.mybot'));
  writeFileSync(join(root, 'secret.txt'), 'outside');
  writeFileSync(join(workspace, 'notes', 'a.txt'), 'hello world');
  writeFileSync(join(workspace, 'config.user.yaml'), 'llm: {api_key: sk-secret}');
  symlinkSync(join(root, 'secret.txt'), join(workspace, 'link-out'));
  symlinkSync(root, join(workspace, 'dir-out'));
  mkdirSync(join(workspace, 'sessions'));
  writeFileSync(join(workspace, 'sessions', 'telegram%3a42.jsonl'), '{"role":"user","content":"my bank PIN is 1234"}\n');
  mkdirSync(join(workspace, 'logs'));
  writeFileSync(join(workspace, 'logs', 'chat.log'), '{}\n');
  writeFileSync(join(workspace, '.mybot', 'journal.jsonl'), '{}\n');
  // symlinks that stay inside the workspace but lead to what the model may not touch
  symlinkSync(join(workspace, '.mybot'), join(workspace, 'state-link'));
  symlinkSync(join(workspace, 'config.user.yaml'), join(workspace, 'config-link'));
  symlinkSync(join(workspace, 'sessions'), join(workspace, 'notes', 'history-link'));
  const tools = new ToolRegistry(fileTools(workspace));
  const call = (name: string, args: unknown) =>
    tools.run({ id: 'c', name, arguments: typeof args === 'string' ? args : JSON.stringify(args) }, new AbortController().signal);
  return { root, workspace, call };
}

describe('file tools', () => {
  it('read, write, edit and list inside the workspace', async () => {
    const { workspace, call } = setup();
    expect(await call('read_file', { path: 'notes/a.txt' })).toBe('hello world');
    expect(await call('write_file', { path: 'new/b.txt', content: 'one two' })).toMatch(/wrote 7/);
    expect(await call('edit_file', { path: 'new/b.txt', old_text: 'two', new_text: 'three' })).toBe('edited new/b.txt');
    expect(readFileSync(join(workspace, 'new/b.txt'), 'utf8')).toBe('one three');
    expect(await call('list_files', {})).toContain('notes/');
    expect(await call('list_files', {})).not.toContain('.mybot');
    expect(await call('list_files', {})).not.toMatch(/sessions|logs|config\.user\.yaml/);
  });

  it.each([
    ['..', { path: '../secret.txt' }, /outside the workspace/],
    ['absolute', { path: '/etc/passwd' }, /absolute/],
    ['symlink to a file out', { path: 'link-out' }, /symlink/],
    ['through a symlinked folder', { path: 'dir-out/secret.txt' }, /symlink/],
    ['NUL byte', { path: 'notes/a.txt\u0000.png' }, /NUL/],
    ['the config with secrets', { path: 'config.user.yaml' }, /belongs to the daemon/],
    ['the daemon state', { path: '.mybot/journal.jsonl' }, /belongs to the daemon/],
    ['the daemon state, by a detour', { path: 'notes/../.mybot/journal.jsonl' }, /belongs to the daemon/],
    ["another chat's history", { path: 'sessions/telegram%3a42.jsonl' }, /belongs to the daemon/],
    ['the logs', { path: 'logs/chat.log' }, /belongs to the daemon/],
    ['a symlink in the workspace to the daemon state', { path: 'state-link/journal.jsonl' }, /belongs to the daemon/],
    ['a symlink in the workspace to the config', { path: 'config-link' }, /belongs to the daemon/],
    ['a symlinked folder leading to the histories', { path: 'notes/history-link/telegram%3a42.jsonl' }, /belongs to the daemon/],
    ['a new file through a symlinked folder', { path: 'state-link/new.txt' }, /belongs to the daemon/],
    ['.. after a real folder', { path: 'notes/../../secret.txt' }, /outside the workspace/],
    ["the owner's memory", { path: 'MEMORY.md' }, /belongs to the daemon/],
    ["the owner's memory, in other letters", { path: 'memory.md' }, /belongs to the daemon/],
    ["another user's memory", { path: 'memory/telegram-42.md' }, /belongs to the daemon/],
    ["an owner's scheduled job (it may run anywhere, as often as it likes)", { path: 'schedules/every-minute.md' }, /belongs to the daemon/],
  ])('refuses a path that leaves the workspace or is the daemon\'s: %s', async (_name, args, message) => {
    const { call } = setup();
    const answer = await call('read_file', args);
    expect(answer).toMatch(/^Error: /);
    expect(answer).toMatch(message);
    expect(answer).not.toContain('outside\n');
    expect(await call('write_file', { ...args, content: 'x' })).toMatch(/^Error: /);
  });

  it('turns bad arguments into an error the model reads, never a throw', async () => {
    const { call } = setup();
    expect(await call('read_file', '{not json')).toMatch(/^Error: the arguments of read_file are not valid JSON/);
    expect(await call('read_file', { path: 42 })).toMatch(/^Error: invalid arguments for read_file/);
    expect(await call('no_such_tool', {})).toMatch(/^Error: there is no tool named 'no_such_tool'/);
    expect(await call('read_file', { path: 'missing.txt' })).toMatch(/^Error: read_file failed \(ENOENT\)/);
  });

  it('bash runs in the workspace with a timeout and an output cap', async () => {
    const { workspace } = setup();
    const bash = new ToolRegistry([bashTool(workspace, () => ({ timeout_s: 1, max_output_chars: 50 }))]);
    const run = (command: string) => bash.run({ id: 'b', name: 'bash', arguments: JSON.stringify({ command }) }, new AbortController().signal);
    expect(await run('pwd')).toContain(workspace);
    expect(await run('sleep 5')).toMatch(/killed by SIGKILL \(timeout 1 s\)/);
    expect(await run('yes | head -c 1000')).toContain('[output cut at 50 characters]');
  });
});
