import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAccessCommand } from '../../../src/agent/access-commands.ts';
import { UsageLimiter } from '../../../src/agent/limits.ts';
import { UsageStore } from '../../../src/agent/usage-store.ts';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import type { EventSource } from '../../../src/core/events.ts';
import { memoryLogger } from '../../helpers/log.ts';

const alice: EventSource = { channel: 'telegram', chatId: '10', userId: '10', chatType: 'private' };
const bob: EventSource = { channel: 'telegram', chatId: '20', userId: '20', chatType: 'private' };
const inGroup = (userId: string): EventSource => ({ channel: 'telegram', chatId: '-100', userId, chatType: 'group' });

function setup(limits: Record<string, unknown>, file = join(mkdtempSync(join(tmpdir(), 'mybot-usage-')), 'usage.json'), start = Date.UTC(2030, 0, 1, 23, 58)) {
  const config: Config = configSchema.parse({ llm: { model: 'm' }, limits });
  let now = start;
  const { logger } = memoryLogger();
  const limiter = new UsageLimiter(() => config, new UsageStore(file, logger), logger, () => now);
  return { limiter, file, advance: (ms: number) => (now += ms), now: () => now };
}

describe('UsageLimiter', () => {
  it('3 messages a minute: the 4th gets one notice, the 5th nothing; a minute after the first, one more goes through', () => {
    const { limiter, advance } = setup({ per_user: { messages_per_minute: 3 } });
    for (let i = 0; i < 3; i++) {
      expect(limiter.admit(alice, false)).toEqual({ ok: true });
      advance(1000);
    }
    const fourth = limiter.admit(alice, false);
    expect(fourth).toMatchObject({ ok: false, scope: 'user', limit: 'minute', notice: expect.stringMatching(/3 messages a minute\)\. I'll answer again in 57 s/) });
    expect(limiter.admit(alice, false)).toEqual({ ok: false, scope: 'user', limit: 'minute' });
    expect(limiter.admit(bob, false)).toEqual({ ok: true }); // per user
    advance(57_000);
    expect(limiter.admit(alice, false)).toEqual({ ok: true });
    expect(limiter.admit(alice, false)).toMatchObject({ ok: false, notice: expect.any(String) }); // a new window, a new notice
  });

  it('tokens per day from the API usage: the message after the budget is spent is refused until midnight UTC', () => {
    const { limiter, advance } = setup({ per_user: { tokens_per_day: 100 } });
    expect(limiter.admit(alice, false).ok).toBe(true);
    limiter.spent(alice, { promptTokens: 80, completionTokens: 30 }, 'm');
    expect(limiter.admit(alice, false)).toMatchObject({ ok: false, limit: 'tokens', notice: expect.stringMatching(/budget of 100 tokens\. I'll answer again after midnight UTC, in 2 min/) });
    expect(limiter.admit(alice, false)).toEqual({ ok: false, scope: 'user', limit: 'tokens' });
    advance(2 * 60_000); // 00:00 UTC
    expect(limiter.admit(alice, false).ok).toBe(true);
    expect(limiter.today(alice).user).toEqual({ messages: 1, promptTokens: 0, completionTokens: 0, cost: 0 });
  });

  it('estimated cost per day from limits.prices; owners are counted but never held back', () => {
    const { limiter } = setup({ per_user: { cost_per_day: 0.01 }, prices: { m: { input_per_mtok: 1000, output_per_mtok: 2000 } } });
    limiter.admit(alice, false);
    limiter.spent(alice, { promptTokens: 6, completionTokens: 2 }, 'm'); // 0.006 + 0.004
    expect(limiter.today(alice).user?.cost).toBeCloseTo(0.01);
    expect(limiter.admit(alice, false)).toMatchObject({ ok: false, limit: 'cost' });
    expect(limiter.admit(alice, true)).toEqual({ ok: true });
    expect(limiter.today(alice).user?.messages).toBe(2);
  });

  it('a per-chat limit holds a whole group back, whoever writes', () => {
    const { limiter } = setup({ per_chat: { messages_per_minute: 2 } });
    expect(limiter.admit(inGroup('1'), false).ok).toBe(true);
    expect(limiter.admit(inGroup('2'), false).ok).toBe(true);
    expect(limiter.admit(inGroup('3'), false)).toMatchObject({ ok: false, scope: 'chat', notice: expect.stringMatching(/^This chat is writing faster/) });
    expect(limiter.admit(alice, false).ok).toBe(true);
  });

  it('counters and notices survive a restart', () => {
    const first = setup({ per_user: { tokens_per_day: 100 } });
    first.limiter.admit(alice, false);
    first.limiter.spent(alice, { promptTokens: 100, completionTokens: 5 }, 'm');
    expect(first.limiter.admit(alice, false).ok).toBe(false);
    first.limiter.flush();
    expect(JSON.parse(readFileSync(first.file, 'utf8'))).toMatchObject({ day: '2030-01-01', users: { 'telegram:10': { messages: 1, promptTokens: 100 } } });
    const second = setup({ per_user: { tokens_per_day: 100 } }, first.file, first.now());
    expect(second.limiter.admit(alice, false)).toEqual({ ok: false, scope: 'user', limit: 'tokens' }); // no second notice
    expect(second.limiter.today(alice).user).toMatchObject({ messages: 1, promptTokens: 100, completionTokens: 5 });
  });
});

describe('/usage and /pair', () => {
  it('/usage shows a user their day and limits; an owner also the top users and chats', () => {
    const { limiter } = setup({ per_user: { messages_per_minute: 3, tokens_per_day: 1000 } });
    limiter.admit(alice, false);
    limiter.spent(alice, { promptTokens: 40, completionTokens: 2 }, 'm');
    limiter.admit(bob, false);
    expect(runAccessCommand('/usage', { source: alice, owner: false, usage: limiter })).toBe(
      'Today (UTC, 2030-01-01), you: 1 message, 42 tokens.\nLimits: per user 3 messages a minute, 1000 tokens a day.',
    );
    const owner = runAccessCommand('/usage@mybot', { source: bob, owner: true, usage: limiter });
    expect(owner).toMatch(/Top users today:\n {2}1\. telegram:10: 1 message, 42 tokens\n {2}2\. telegram:20: 1 message, 0 tokens\nTop chats today:/);
  });

  it('/pair is for owners, in a DM', () => {
    expect(runAccessCommand('/pair list', { source: alice, owner: false })).toBe('Only an owner of this bot can use /pair (channels.telegram.owner_user_ids).');
    expect(runAccessCommand('/pair list', { source: inGroup('10'), owner: true })).toMatch(/^Use \/pair in a direct message/);
    expect(runAccessCommand('hello', { source: alice, owner: true })).toBeUndefined();
  });
});
