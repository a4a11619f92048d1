import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bot } from 'grammy';
import { retryAfterOf } from '../../../src/channels/telegram/errors.ts';
import { SendLimiter, TELEGRAM_LIMITS, type SendLimits } from '../../../src/channels/telegram/send-limiter.ts';
import { FakeTelegram } from '../../fakes/telegram.ts';

/** Telegram's limits scaled down from minutes to a second, so the tests stay short. */
const SMALL: SendLimits = {
  privateChat: { limit: 3, intervalMs: 400 },
  // a tenth more than the fake's window, as the real one has a second more than Telegram's minute
  group: { limit: 5, intervalMs: 1_100 },
  global: { limit: 8, intervalMs: 500 },
};

describe('SendLimiter', () => {
  it('starts a send under the limits at once, without a timer in between', () => {
    const limiter = new SendLimiter(SMALL);
    let started = false;
    void limiter.schedule(42, async () => {
      started = true;
    });
    expect(started).toBe(true);
  });

  it('sends one message of a chat at a time, in order', async () => {
    const limiter = new SendLimiter(SMALL);
    const log: string[] = [];
    const send = (name: string, ms: number) =>
      limiter.schedule(7, async () => {
        log.push(`start ${name}`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`end ${name}`);
      });
    await Promise.all([send('a', 30), send('b', 0), send('c', 0)]);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('holds a private chat to its window and lets other chats go meanwhile', async () => {
    const limiter = new SendLimiter(SMALL);
    const startedAt = (chat: number) => limiter.schedule(chat, async () => performance.now());
    const t0 = performance.now();
    const [own, other] = await Promise.all([Promise.all([1, 2, 3, 4].map(() => startedAt(11))), startedAt(12)]);
    expect(own.slice(0, 3).every((t) => t - t0 < 100)).toBe(true);
    expect(own[3]! - own[0]!).toBeGreaterThanOrEqual(SMALL.privateChat.intervalMs - 5);
    expect(other - t0).toBeLessThan(own[3]! - t0);
  });

  it('holds the bot as a whole to the global window', async () => {
    const limiter = new SendLimiter(SMALL);
    const times = await Promise.all(Array.from({ length: 10 }, (_, i) => limiter.schedule(100 + i, async () => performance.now())));
    const sorted = [...times].sort((a, b) => a - b);
    expect(sorted[8]! - sorted[0]!).toBeGreaterThanOrEqual(SMALL.global.intervalMs - 5);
  });

  it('forgets chats once they are idle and out of their window', async () => {
    const limiter = new SendLimiter({ ...SMALL, group: { limit: 5, intervalMs: 50 } });
    await Promise.all([1, 2, 3].map((chat) => limiter.schedule(chat, async () => undefined)));
    expect(limiter.chatCount).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, SMALL.privateChat.intervalMs + 20));
    await limiter.schedule(4, async () => undefined);
    expect(limiter.chatCount).toBe(1);
  });

  describe('after a 429', () => {
    const tooMany = (retryAfter: number) => ({ ok: false, error_code: 429, description: `Too Many Requests: retry after ${retryAfter}`, parameters: { retry_after: retryAfter } });

    it('pauses that chat for retry_after, tries the send again, keeps the chat in order, and lets other chats go', async () => {
      const paused: string[] = [];
      const limiter = new SendLimiter(SMALL, { retryAfterOf, onPause: (chat) => paused.push(chat) });
      const sent: Array<{ chat: number; name: string; at: number }> = [];
      let failFirst = true;
      const send = (chat: number, name: string) =>
        limiter.schedule(chat, async () => {
          if (failFirst && name === 'a1') {
            failFirst = false;
            return tooMany(1);
          }
          sent.push({ chat, name, at: performance.now() });
          return { ok: true };
        });
      const t0 = performance.now();
      await Promise.all([send(-5, 'a1'), send(-5, 'a2'), send(-6, 'b1')]);
      expect(sent.filter((s) => s.chat === -5).map((s) => s.name)).toEqual(['a1', 'a2']);
      expect(sent.find((s) => s.name === 'a1')!.at - t0).toBeGreaterThanOrEqual(995);
      expect(sent.find((s) => s.name === 'b1')!.at - t0).toBeLessThan(200);
      expect(paused).toEqual(['-5']);
    });

    it('pauses the chat for a 429 thrown by the call too, and gives up after a few tries with the failure', async () => {
      const limiter = new SendLimiter(SMALL, { retryAfterOf });
      let calls = 0;
      const result = limiter.schedule(9, async () => {
        calls++;
        throw tooMany(0);
      });
      await expect(result).rejects.toMatchObject({ error_code: 429 });
      expect(calls).toBe(6);
    });

    it('holds a message sent while a best-effort call is on the wire until its answer, and honours a 429 in it', async () => {
      const limiter = new SendLimiter(SMALL, { retryAfterOf });
      let answer!: (v: unknown) => void;
      const typing = limiter.tryNow(8, () => new Promise((resolve) => (answer = resolve)));
      const t0 = performance.now();
      const message = limiter.schedule(8, async () => performance.now());
      answer(tooMany(1));
      await typing;
      expect((await message) - t0).toBeGreaterThanOrEqual(995);
    });

    it('drops a best-effort call while the chat is busy or paused, and a 429 on one pauses the chat for messages', async () => {
      const limiter = new SendLimiter(SMALL, { retryAfterOf });
      let release!: () => void;
      const busy = limiter.schedule(3, () => new Promise<void>((resolve) => (release = resolve)));
      expect(limiter.tryNow(3, async () => 'typing')).toBeUndefined();
      release();
      await busy;
      expect(await limiter.tryNow(3, async () => tooMany(1))).toMatchObject({ error_code: 429 });
      expect(limiter.tryNow(3, async () => 'typing')).toBeUndefined();
      const t0 = performance.now();
      await limiter.schedule(3, async () => undefined);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
      expect(await limiter.tryNow(4, async () => 'other chat')).toBe('other chat');
    });
  });

  it('keeps the defaults at Telegram’s documented limits', () => {
    expect(TELEGRAM_LIMITS.group.limit).toBe(20);
    expect(TELEGRAM_LIMITS.group.intervalMs).toBeGreaterThan(60_000);
    expect(TELEGRAM_LIMITS.global).toEqual({ limit: 30, intervalMs: 1_000 });
  });

  describe('in front of grammY, against the fake Bot API', () => {
    let fake: FakeTelegram;
    let bot: Bot;

    beforeEach(async () => {
      fake = await FakeTelegram.start();
      bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    });

    afterEach(async () => {
      await fake.close();
    });

    it('sends 8 replies to a group whose limit is 5 per window without one 429, in order', async () => {
      const limiter = new SendLimiter(SMALL);
      const group = fake.userSays({ chatType: 'supergroup', text: 'hi' }).chat.id;
      fake.limitGroupSends(SMALL.group.limit, 1_000);
      const t0 = Date.now();
      await Promise.all(Array.from({ length: 8 }, (_, i) => limiter.schedule(group, () => bot.api.sendMessage(group, `reply ${i}`))));
      const sends = fake.requests.filter((r) => r.method === 'sendMessage');
      expect(sends.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(fake.botMessages(group).map((m) => m.text)).toEqual(Array.from({ length: 8 }, (_, i) => `reply ${i}`));
      expect(sends[5]!.at - t0).toBeGreaterThanOrEqual(1_000);
    });
  });
});
