import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatchUp, collectMissed, snowflakeAt, type CatchUpMessage } from '../../../src/channels/discord/catch-up.ts';
import { CursorStore } from '../../../src/channels/discord/cursors.ts';
import { memoryLogger } from '../../helpers/log.ts';

const testLog = memoryLogger().logger;

const NOW = Date.UTC(2026, 0, 1, 12);
type Msg = CatchUpMessage & { forBot: boolean };

/** A channel of `count` messages one second apart, ending a minute before NOW; every third is for the bot. */
function channel(channelId: string, count: number): Msg[] {
  return Array.from({ length: count }, (_, i) => ({ id: snowflakeAt(NOW - 60_000 - (count - i) * 1000), channelId, forBot: i % 3 === 0 }));
}

/** Discord's `after` paging over `messages`: the oldest `limit` after the anchor, newest first. */
function server(channels: Record<string, Msg[]>, calls: string[] = []) {
  return async (channelId: string, after: string, limit: number): Promise<Msg[]> => {
    calls.push(`${channelId}>${after}`);
    const all = channels[channelId];
    if (!all) throw Object.assign(new Error('Unknown Channel'), { status: 404 });
    return all.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit).reverse();
  };
}

describe('collectMissed', () => {
  const base = { isAddressed: (m: Msg) => m.forBot, max: 50, maxAgeS: 3600, now: NOW };

  it('pages forward from each cursor and hands back the messages for the bot, oldest first across channels', async () => {
    const a = channel('a', 250);
    const b = channel('b', 5);
    const calls: string[] = [];
    const result = await collectMissed({ ...base, max: 1000, cursors: [['a', a[9]!.id], ['b', b[0]!.id]], fetchAfter: server({ a, b }, calls) });
    const expected = [...a.slice(10), ...b.slice(1)].filter((m) => m.forBot).sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
    expect(result.messages.map((m) => m.id)).toEqual(expected.map((m) => m.id));
    expect(calls.filter((c) => c.startsWith('a>'))).toHaveLength(3);
    expect(result.newest.get('a')).toBe(a.at(-1)!.id);
    expect(result.newest.get('b')).toBe(b.at(-1)!.id);
  });

  it('reads nothing older than maxAgeS, even when the cursor is older', async () => {
    const a = channel('a', 30);
    const result = await collectMissed({ ...base, maxAgeS: 10 + 60, cursors: [['a', a[0]!.id]], fetchAfter: server({ a }) });
    expect(result.messages.map((m) => m.id)).toEqual(a.slice(-10).filter((m) => m.forBot).map((m) => m.id));
  });

  it('keeps the newest `max` and says how many older ones it left out', async () => {
    const a = channel('a', 30);
    const result = await collectMissed({ ...base, max: 4, cursors: [['a', '0']], fetchAfter: server({ a }) });
    expect(result.messages.map((m) => m.id)).toEqual(a.filter((m) => m.forBot).slice(-4).map((m) => m.id));
    expect(result.overMax).toBe(6);
  });

  it('reports a channel it cannot read and goes on with the others', async () => {
    const a = channel('a', 3);
    const result = await collectMissed({ ...base, cursors: [['gone', '1'], ['a', '0']], fetchAfter: server({ a }) });
    expect(result.failed.map((f) => f.channelId)).toEqual(['gone']);
    expect(result.messages).toHaveLength(1);
  });
});

describe('CatchUp and CursorStore', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mybot-cursors-'));
    file = join(dir, 'discord-cursors.json');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('holds live messages of a channel being caught up until the missed ones are handled, and moves the cursors', async () => {
    const a = channel('11', 6);
    const cursors = new CursorStore(file, testLog);
    cursors.open('11', a[0]!.id, '900');
    cursors.advance('11', a[0]!.id);
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetch = server({ 11: a.slice(0, 4) });
    const catchUp = new CatchUp<Msg>({
      cursors,
      limits: () => ({ max: 50, maxAgeS: 1e9 }),
      fetchAfter: async (...args) => {
        await gate;
        return fetch(...args);
      },
      isAddressed: () => true,
      handle: async (m) => void handled.push(m.id),
      paused: () => false,
      describeFailure: () => ({ message: 'x', retryable: true }),
      log: testLog,
    });
    const running = catchUp.run();
    catchUp.live(a[4]!);
    catchUp.live({ id: '7', channelId: '12', forBot: true });
    expect(handled).toEqual(['7']);
    release();
    await running;
    expect(handled).toEqual(['7', a[1]!.id, a[2]!.id, a[3]!.id, a[4]!.id]);
    cursors.flush();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, channels: { 11: a[3]!.id }, guilds: { 11: '900' } });
  });

  it('starts a channel just before its first message, saved at once; never moves back; a damaged file is set aside', () => {
    const cursors = new CursorStore(file, testLog);
    cursors.open('21', '1000', null);
    expect(new CursorStore(file, testLog).entries()).toEqual([['21', '999']]);
    expect(new CursorStore(file, testLog).guildOf('21')).toBeNull();
    cursors.advance('21', '1005');
    cursors.advance('21', '1002');
    cursors.advance('22', '5');
    cursors.flush();
    expect(new CursorStore(file, testLog).entries()).toEqual([['21', '1005']]);
    cursors.forget('21');
    expect(new CursorStore(file, testLog).entries()).toEqual([]);
    writeFileSync(file, '{"version":1,"channels":{"21":"not a snowflake"}}');
    expect(new CursorStore(file, testLog).entries()).toEqual([]);
  });
});
