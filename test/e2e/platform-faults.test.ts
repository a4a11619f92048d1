import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyText } from '../chaos/world.ts';
import { Rng } from '../chaos/rng.ts';
import { FakeDiscord, type RestFault } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram, type TelegramFault } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { MESSAGES_ROUTE } from './discord-setup.ts';

/** The tags `m<idx>-<part>` of the reply paragraphs a chat shows, in the order they arrived. */
const tagsIn = (texts: string[]): string[] => texts.flatMap((t) => [...t.matchAll(/\bm(\d+)-(\d+)\b/g)].map((m) => m[0]));
/** Every paragraph of every reply, once each, in the order the messages were sent. */
const expectedTags = (idxs: number[], parts: Map<number, number>): string[] => idxs.flatMap((i) => Array.from({ length: parts.get(i)! }, (_, k) => `m${i}-${k}`));

/**
 * Platforms misbehave: 30% of sends answer 429 (with retry_after), 500 or drop the connection;
 * Telegram's getUpdates fails now and then; Discord's gateway closes with codes it may resume
 * after. Every reply still arrives, exactly once, in order per chat.
 */
describe('platform faults: the real daemon against flaky fake Telegram and Discord', () => {
  const rng = new Rng(7);
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  const parts = new Map<number, number>();
  let next = 0;
  /** A user message whose reply has `n` paragraphs (a long one is several chunks). */
  const message = (n: number): { idx: number; text: string } => {
    const idx = next++;
    parts.set(idx, n);
    return { idx, text: `m${idx} please answer` };
  };

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start({ heartbeatIntervalMs: 1_000 }), FakeOpenAI.start()]);
    // messages queued while the agent answered reach it as one turn: each gets its paragraphs, in order
    llm.setResponder((req) => {
      const idxs = [...String(req.messages.at(-1)?.content).matchAll(/\bm(\d+)\b/g)].map((m) => Number(m[1]));
      return { content: idxs.map((idx) => replyText(idx, parts.get(idx) ?? 1)).join('\n\n'), delayMs: rng.int(0, 50) };
    });
    daemon = await Daemon.start({ config: fakesConfig({ llm, telegram, discord }) });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  it('Telegram: 30% of sends fail (429, 500, dropped connection), getUpdates fails now and then; every reply arrives once, in order', async () => {
    const sendFaults: TelegramFault[] = [{ kind: '429', retryAfter: 1 }, { kind: '500' }, { kind: 'drop' }];
    telegram.failRandomly('sendMessage', () => (rng.chance(0.3) ? rng.pick(sendFaults) : undefined));
    telegram.failRandomly('getUpdates', () => (rng.chance(0.15) ? rng.pick<TelegramFault>([{ kind: '500' }, { kind: 'drop' }]) : undefined));
    const chats = [
      { chatId: 5101 },
      { chatId: 5102 },
      { chatId: 5103 },
      { chatId: -1_005_000_000_001, chatType: 'supergroup' as const, userId: 5104, mention: true },
    ];
    const sent = new Map<number, number[]>(chats.map((c) => [c.chatId, []]));
    for (let round = 0; round < 5; round++) {
      for (const chat of chats) {
        const { idx, text } = message(round === 2 ? 20 : 1); // the third reply of each chat is two chunks
        telegram.userSays({ ...chat, text });
        sent.get(chat.chatId)!.push(idx);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const want = new Map([...sent].map(([chatId, idxs]) => [chatId, expectedTags(idxs, parts)]));
    const got = (chatId: number) => tagsIn(telegram.botMessages(chatId).map((m) => m.text ?? ''));
    await waitFor(() => chats.every((c) => got(c.chatId).length >= want.get(c.chatId)!.length), 50_000, 'every Telegram reply');
    telegram.failRandomly('sendMessage', undefined);
    telegram.failRandomly('getUpdates', undefined);
    for (const { chatId } of chats) expect(got(chatId)).toEqual(want.get(chatId));
    const failed = telegram.requests.filter((r) => r.method === 'sendMessage' && r.status !== 200).length;
    expect(failed).toBeGreaterThan(3); // the faults did happen
    expect(telegram.requests.some((r) => r.method === 'getUpdates' && r.status !== 200)).toBe(true);
  }, 60_000);

  it('Discord: 30% of sends fail (429, 500, dropped before or after Discord took it), the gateway closes with resumable codes; every reply arrives once, in order', async () => {
    const faults: RestFault[] = [{ kind: '429', retryAfter: 0.2 }, { kind: '500' }, { kind: 'drop' }, { kind: 'drop', afterHandling: true }];
    discord.failRandomly(MESSAGES_ROUTE, () => (rng.chance(0.3) ? rng.pick(faults) : undefined));
    const dms = [discord.dmChannelFor(discord.nextId(), 'ann'), discord.dmChannelFor(discord.nextId(), 'bob')];
    const thread = discord.addThread();
    const channels = [...dms.map((c) => ({ id: c.id, mention: false })), { id: discord.textChannelId, mention: true }, { id: thread.id, mention: true }];
    const sent = new Map<string, number[]>(channels.map((c) => [c.id, []]));
    const closes = [4000, 4001, 4002, 4009, 0];
    for (let round = 0; round < 5; round++) {
      // mid-conversation the gateway goes away; what is dispatched meanwhile comes with the RESUME
      const code = closes[round]!;
      const resumes = discord.resumeCount;
      if (code === 0) discord.dropSockets();
      else discord.closeSockets(code, 'test');
      for (const channel of channels) {
        const { idx, text } = message(round === 1 ? 12 : 1); // the second reply of each channel is two chunks
        discord.userSays({ channelId: channel.id, content: text, mentionBot: channel.mention });
        sent.get(channel.id)!.push(idx);
      }
      await waitFor(() => discord.resumeCount > resumes, 10_000, `a RESUME after close code ${code}`);
    }
    const want = new Map([...sent].map(([id, idxs]) => [id, expectedTags(idxs, parts)]));
    const got = (id: string) => tagsIn(discord.sentMessages(id).map((m) => m.content));
    await waitFor(() => channels.every((c) => got(c.id).length >= want.get(c.id)!.length), 50_000, 'every Discord reply');
    discord.stopFailing();
    for (const { id } of channels) expect(got(id)).toEqual(want.get(id));
    expect(discord.resumeCount).toBe(closes.length);
    expect(discord.identifyCount).toBe(1); // always resumed, never a fresh session that would miss messages
    expect(discord.requests.filter((r) => r.method === 'POST' && /messages$/.test(r.path) && r.status !== 200).length).toBeGreaterThan(3);
  }, 60_000);
});
