import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bot } from 'grammy';
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
