import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { fileTools } from '../../../src/agent/tools/files.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { sendFileTool } from '../../../src/agent/tools/send-file.ts';
import type { Actor } from '../../../src/core/actor.ts';
import type { OutboundEvent } from '../../../src/core/events.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { Journal } from '../../../src/core/journal.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup(limit: number | null = 10 * 1_048_576) {
  const workspace = mkdtempSync(join(tmpdir(), 'mybot-send-file-'));
  dirs.push(workspace);
  mkdirSync(join(workspace, 'inbox', 'telegram_1'), { recursive: true });
  mkdirSync(join(workspace, 'inbox', 'telegram_2'), { recursive: true });
  writeFileSync(join(workspace, 'chart.png'), Buffer.alloc(2_000, 1));
  writeFileSync(join(workspace, 'empty.txt'), '');
  writeFileSync(join(workspace, 'inbox', 'telegram_1', '5-0-mine.pdf'), 'mine');
  writeFileSync(join(workspace, 'inbox', 'telegram_2', '9-0-theirs.pdf'), 'theirs');
  // a journal, so a repeated publish is known as one
  const bus = new LocalBus({ log: pino({ level: 'silent' }), journal: new Journal(join(workspace, '.mybot', 'journal.jsonl')) });
  const published: OutboundEvent[] = [];
  bus.subscribe('outbound', (event) => void published.push(event));
  void bus.run();
  const tools = new ToolRegistry([...fileTools(workspace), sendFileTool({ workspace, bus, maxFileBytes: () => limit ?? undefined })]);
  const actor: Actor = { sessionId: 'telegram:1', source: { channel: 'telegram', chatId: '1' }, owner: false, eventId: 'telegram:1:5' };
  const call = (name: string, args: unknown, who: Actor | null = actor) => (who ? tools.forTurn(who) : tools).run({ id: 'c', name, arguments: JSON.stringify(args) }, new AbortController().signal);
  return { workspace, call, published };
}

describe('send_file', () => {
  it('publishes the file to the chat being answered, once per message and file', async () => {
    const { workspace, call, published } = setup();
    expect(await call('send_file', { path: 'chart.png', caption: 'the chart' })).toBe('sent chart.png (2 KB) to the chat');
    expect(await call('send_file', { path: 'chart.png', caption: 'the chart' })).toBe('chart.png was already sent to the chat for this message; not sent again');
    await new Promise((resolve) => setImmediate(resolve));
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      type: 'outbound', sessionId: 'telegram:1', source: { channel: 'telegram', chatId: '1' }, content: 'the chart', inReplyTo: 'telegram:1:5',
      file: { path: join(workspace, 'chart.png'), name: 'chart.png' },
    });
    expect(published[0]!.id).toMatch(/^telegram:1:5:file:[0-9a-f]{16}$/);
  });

  it("says what is wrong: no file, an empty one, too large for the chat, a chat without files, another chat's inbox", async () => {
    const { call } = setup();
    expect(await call('send_file', { path: 'nope.png' })).toBe('Error: nope.png is not a file in the workspace');
    expect(await call('send_file', { path: 'empty.txt' })).toBe('Error: empty.txt is empty; the platforms do not take empty files');
    expect(await call('send_file', { path: 'inbox/telegram_2/9-0-theirs.pdf' })).toMatch(/^Error: 'inbox\/telegram_2\/9-0-theirs.pdf' holds another conversation's files/);
    expect(await call('send_file', { path: 'inbox/telegram_1/5-0-mine.pdf' })).toMatch(/^sent inbox\/telegram_1\/5-0-mine.pdf/);
    expect(await call('send_file', { path: 'config.user.yaml' })).toMatch(/belongs to the daemon/);
    expect(await call('send_file', { path: 'chart.png' }, null)).toBe('Error: send_file works only while answering a chat message');
    expect(await setup(1_000).call('send_file', { path: 'chart.png' })).toBe(
      'Error: chart.png is 2 KB and telegram takes files up to 1 KB in this chat: make it smaller (compress, split, lower the resolution) or tell the user where it is instead',
    );
    expect(await setup(null).call('send_file', { path: 'chart.png' })).toMatch(/^Error: this chat \(telegram\) cannot receive files/);
  });

  it("keeps the file tools to the conversation's own inbox", async () => {
    const { call } = setup();
    expect(await call('read_file', { path: 'inbox/telegram_1/5-0-mine.pdf' })).toBe('mine');
    expect(await call('read_file', { path: 'inbox/telegram_2/9-0-theirs.pdf' })).toMatch(/holds another conversation's files/);
    expect(await call('read_file', { path: 'inbox/telegram_1/../telegram_2/9-0-theirs.pdf' })).toMatch(/holds another conversation's files/);
    expect(await call('list_files', { path: 'inbox' })).toBe('telegram_1/');
    expect(await call('write_file', { path: 'inbox/telegram_2/x.txt', content: 'x' })).toMatch(/holds another conversation's files/);
  });
});
