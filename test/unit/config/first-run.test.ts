import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { askForConfig } from '../../../src/config/first-run.ts';
import { loadConfig } from '../../../src/config/load.ts';

describe('first run on a terminal', () => {
  it('asks for the LLM and the channels, and writes a config.user.yaml that loads', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-first-run-'));
    const file = join(workspace, 'config.user.yaml');
    const answers = ['http://127.0.0.1:11434/v1', 'llama3', '', '123:telegram-token', ''];
    const output = new PassThrough();
    let printed = '';
    output.on('data', (d: Buffer) => (printed += d.toString()));
    await askForConfig(file, Readable.from(answers.map((a) => `${a}\n`)), output);
    expect(printed).toContain('Model [gpt-4o-mini]');
    const config = loadConfig(workspace, {});
    expect(config.llm).toMatchObject({ api_base: 'http://127.0.0.1:11434/v1', model: 'llama3' });
    expect(config.channels.telegram).toMatchObject({ enabled: true, bot_token: '123:telegram-token' });
    expect(config.channels.discord.enabled).toBe(false);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^# written by mybot's first start/);
  });
});
