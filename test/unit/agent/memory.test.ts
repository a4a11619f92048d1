import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { editSection, MemoryFiles } from '../../../src/agent/memory.ts';
import { gatherBurst } from '../../../src/agent/bursts.ts';
import { memoryTools } from '../../../src/agent/tools/memory.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import type { Actor } from '../../../src/core/actor.ts';
import type { EventBus } from '../../../src/core/bus.ts';
import type { InboundEvent } from '../../../src/core/events.ts';
import { inbound } from '../../helpers/events.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const actor = (userId: string, chatType: 'private' | 'group', owner = false): Actor => ({
  source: { channel: 'telegram', chatId: chatType === 'private' ? userId : '-100', userId, chatType },
  sessionId: chatType === 'private' ? `telegram:${userId}` : 'telegram:-100',
  owner,
});

describe('editSection', () => {
  it.each([
    ['appends at the end without a section', '# Me\n- a\n', '- b', undefined, false, '# Me\n- a\n- b\n'],
    ['starts an empty file', '', '- a', undefined, false, '- a\n'],
    ['makes a missing section at the end', '# Me\n- a\n', '- veg', 'Food', false, '# Me\n- a\n\n## Food\n- veg\n'],
    ['appends to the end of a section, before the next one', '## Food\n- veg\n\n## Work\n- dev\n', '- no nuts', 'food', false, '## Food\n- veg\n- no nuts\n\n## Work\n- dev\n'],
    ['replaces a section', '## Food\n- veg\n- fish\n\n## Work\n- dev\n', '- vegan', '## Food', true, '## Food\n- vegan\n\n## Work\n- dev\n'],
    ['removes a section replaced by nothing', '# Me\n\n## Food\n- veg\n\n## Work\n- dev\n', '', 'Food', true, '# Me\n\n## Work\n- dev\n'],
    ['replaces the whole file', '- a\n- b\n', '- c', undefined, true, '- c\n'],
  ])('%s', (_case, doc, text, section, replace, expected) => {
    expect(editSection(doc, text, section, replace)).toBe(expected);
  });
});

describe('MemoryFiles', () => {
  const workspace = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-memory-'));
    dirs.push(dir);
    return dir;
  };

  it('picks MEMORY.md for owners and memory/<channel>-<user>.md for others, in private chats only', () => {
    const memory = new MemoryFiles(workspace());
    expect(memory.fileFor(actor('1', 'private', true))).toBe('MEMORY.md');
    expect(memory.fileFor(actor('2', 'private'))).toBe('memory/telegram-2.md');
    expect(memory.fileFor(actor('1', 'group', true))).toBeUndefined();
    expect(memory.fileFor({ ...actor('../../etc', 'private') })).toBe('memory/telegram-______etc.md');
    expect(memory.searchable(actor('2', 'private'))).toEqual(['memory/telegram-2.md', 'notes']);
    expect(memory.searchable(actor('1', 'private', true))).toEqual(['MEMORY.md', 'memory', 'notes']);
    expect(memory.searchable(actor('2', 'group'))).toEqual(['notes']);
  });

  it("puts a person's memory in their private prompt only, and a group gets only the rule", () => {
    const dir = workspace();
    writeFileSync(join(dir, 'MEMORY.md'), '- owner fact');
    const memory = new MemoryFiles(dir);
    expect(memory.promptSection(actor('1', 'private', true))).toContain('Your memory of them (MEMORY.md):\n- owner fact');
    expect(memory.promptSection(actor('2', 'private'))).toContain('(memory/telegram-2.md):\n(nothing yet)');
    expect(memory.promptSection(actor('1', 'group', true))).not.toContain('owner fact');
  });

  it('memory_search reads only what the asker may, and follows no symlink out', async () => {
    const dir = workspace();
    mkdirSync(join(dir, 'memory'));
    mkdirSync(join(dir, 'notes'));
    writeFileSync(join(dir, 'memory', 'telegram-2.md'), '- likes tea\n');
    writeFileSync(join(dir, 'memory', 'telegram-3.md'), '- likes tea too\n');
    writeFileSync(join(dir, 'notes', 'drinks.md'), '# Drinks\n- tea in the morning\n');
    const outside = workspace();
    writeFileSync(join(outside, 'secret.md'), 'tea secret');
    symlinkSync(outside, join(dir, 'notes', 'escape'));
    const tools = new ToolRegistry(memoryTools(new MemoryFiles(dir)));
    const search = (who: Actor) => tools.forTurn(who).run({ id: 's', name: 'memory_search', arguments: JSON.stringify({ query: 'tea' }) }, new AbortController().signal);
    expect(await search(actor('2', 'private'))).toBe('memory/telegram-2.md:1: - likes tea\nnotes/drinks.md:2: - tea in the morning');
    expect(await search(actor('2', 'group'))).toBe('notes/drinks.md:2: - tea in the morning');
    expect(await search(actor('1', 'private', true))).toBe('memory/telegram-2.md:1: - likes tea\nmemory/telegram-3.md:1: - likes tea too\nnotes/drinks.md:2: - tea in the morning');
    expect(await tools.run({ id: 'x', name: 'memory_read', arguments: '{}' }, new AbortController().signal)).toBe('Error: memory is not available here');
  });
});

describe('MemoryFiles shared by several processes', () => {
  it('memory_write edits under the file lock: both processes\' facts are kept, a refused edit changes nothing, no lock is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-memory-shared-'));
    dirs.push(dir);
    const [a, b] = [0, 1].map(() => new ToolRegistry(memoryTools(new MemoryFiles(dir, { shared: true }))));
    const write = (tools: ToolRegistry, who: Actor, text: string) => tools.forTurn(who).run({ id: 'w', name: 'memory_write', arguments: JSON.stringify({ text, section: 'Facts' }) }, new AbortController().signal);
    const owner = actor('1', 'private', true);
    expect(await write(a!, owner, '- likes tea')).toMatch(/^saved/);
    expect(await write(b!, owner, '- lives in Lyon')).toMatch(/^saved/);
    expect(await write(a!, actor('2', 'private'), '- new here')).toMatch(/^saved/);
    expect(await write(b!, owner, 'x'.repeat(9_000))).toMatch(/over the 8000 it may have/);
    expect(readFileSync(join(dir, 'MEMORY.md'), 'utf8')).toBe('## Facts\n- likes tea\n- lives in Lyon\n');
    expect(readFileSync(join(dir, 'memory', 'telegram-2.md'), 'utf8')).toBe('## Facts\n- new here\n');
    expect(readdirSync(dir).sort()).toEqual(['MEMORY.md', 'memory']);
    expect(readdirSync(join(dir, 'memory'))).toEqual(['telegram-2.md']);
  });
});

describe('bursts and scheduled events', () => {
  /** The bus as gatherBurst sees it: the events queued behind the first, taken while `accept` says yes. */
  const busWith = (queued: InboundEvent[]): EventBus =>
    ({
      takeQueued(_sessionId: string, accept: (e: InboundEvent) => boolean) {
        const taken: InboundEvent[] = [];
        while (queued.length > 0 && accept(queued[0]!)) taken.push(queued.shift()!);
        return taken;
      },
    }) as unknown as EventBus;
  const scheduled = (id: string): InboundEvent => ({ ...inbound('s', `[Scheduled task ${id}]`, id), scheduled: { job: 'j', dueAt: 1 } });

  it('a scheduled event is answered on its own: never merged into a burst, and no message merged into it', async () => {
    const signal = new AbortController().signal;
    const user = inbound('s', 'hello', 'u1');
    expect((await gatherBurst(busWith([scheduled('f1'), inbound('s', 'more', 'u2')]), user, 0, signal))!.burst.map((e) => e.id)).toEqual(['u1']);
    expect((await gatherBurst(busWith([inbound('s', 'more', 'u2')]), scheduled("f1"), 0, signal))!.burst.map((e) => e.id)).toEqual(['f1']);
  });
});
