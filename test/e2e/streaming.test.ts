import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUT_OFF_NOTE } from '../../src/agent/loop.ts';
import { FakeDiscord, type FakeMessage as DiscordMessage } from '../fakes/discord.ts';
import { FakeOpenAI, type FakeReply, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** Telegram allows about one message a second per chat: edits must reach it at least that far apart. */
const EDIT_INTERVAL_MS = 1000;
/** Clock granularity between the daemon and the fakes' records. */
const TOLERANCE_MS = 50;

const sentence = (i: number) => `Sentence number ${i} of the answer says something plain and useful. `;
/** ~700 characters: one message on both platforms. */
const SLOW_TEXT = Array.from({ length: 10 }, (_, i) => sentence(i)).join('').trim();
/** ~5,000 characters in paragraphs: two Telegram messages, three Discord ones. */
const LONG_TEXT = Array.from({ length: 12 }, (_, p) => Array.from({ length: 6 }, (_, i) => sentence(p * 6 + i)).join('').trim()).join('\n\n');
const CUT_TEXT = 'This answer starts well and goes on for a while, but the connection to the model breaks before the end of it.';

/** The model writes slowly (many pieces over ~3 s) when the user's message carries a marker; otherwise it echoes at once. */
function model(req: FakeRequest): FakeReply {
  const user = String([...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '');
  if (user.includes('[slow]')) return { content: SLOW_TEXT, pieces: 30, pieceDelayMs: 100 };
  if (user.includes('[long]')) return { content: LONG_TEXT, pieces: 50, pieceDelayMs: 60 };
  if (user.includes('[cut]')) return { fault: 'cut-stream', content: CUT_TEXT, pieces: 20, pieceDelayMs: 100 };
  return { content: `echo: ${user}` };
}

/** Every pair of consecutive times is at least an edit interval apart. */
function expectSpaced(times: number[]): void {
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(EDIT_INTERVAL_MS - TOLERANCE_MS);
}

describe('streamed replies: the real daemon shows an answer while the fake LLM writes it, in the fake Telegram and Discord', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  /** The streamed long answer as each platform shows it in the end, to compare with the same answer not streamed. */
  const streamedLong: { telegram?: string[]; discord?: string[] } = {};

  const startDaemon = (llmSettings: Record<string, unknown> = {}) => {
    const config = fakesConfig({ llm, telegram, discord });
    return Daemon.start({ config: { ...config, llm: { ...(config.llm as object), ...llmSettings } } });
  };

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start({ heartbeatIntervalMs: 1_000 }), FakeOpenAI.start()]);
    llm.setResponder(model);
    daemon = await startDaemon();
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  const llmRequestFor = (text: string) => llm.requests.find((r) => r.messages.at(-1)?.content === text)!;
  const telegramSends = (chatId: number) => telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.status === 200);
  const telegramTexts = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text);
  /** Waits until the daemon logged the reply to `inboundId` as delivered: every edit is done. */
  const delivered = (inboundId: string) => daemon.waitForLog('reply delivered', (l) => l.eventId === `${inboundId}:reply`, 20_000);
  const telegramInbound = (chatId: number, messageId: number) => `telegram:${chatId}:${messageId}`;

  const discordDm = (userId: string) => discord.dmChannelFor(userId, `user${userId.slice(-3)}`);
  const discordRequests = (channelId: string, method: string) =>
    discord.requests.filter((r) => r.method === method && r.path.startsWith(`/channels/${channelId}/messages`) && r.status === 200);
  const discordTexts = (channelId: string) => discord.sentMessages(channelId).map((m) => m.content);
  const discordInbound = (message: DiscordMessage) => `discord:${message.channel_id}:${message.id}`;

  it('Telegram: the first message goes up while the model writes, then is edited in place, at most once a second, to exactly the answer', async () => {
    const chatId = 8101;
    const asked = telegram.userSays({ chatId, text: 'tell me slowly [slow]' });
    await delivered(telegramInbound(chatId, asked.message_id));

    expect(telegramTexts(chatId)).toEqual([SLOW_TEXT]);
    const [first, ...others] = telegramSends(chatId);
    expect(others).toEqual([]);
    const firstText = String(first!.params.text);
    expect(firstText.length).toBeLessThan(SLOW_TEXT.length);
    expect(SLOW_TEXT.startsWith(firstText)).toBe(true);
    // while the model was still writing (it takes ~3 s)
    expect(first!.at - llmRequestFor('tell me slowly [slow]').at).toBeLessThan(2_500);

    const edits = telegram.edits.filter((e) => e.chatId === chatId);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(new Set(edits.map((e) => e.messageId))).toEqual(new Set([telegram.botMessages(chatId)[0]!.message_id]));
    expect(edits.at(-1)!.text).toBe(SLOW_TEXT);
    expectSpaced([first!.at, ...edits.map((e) => e.at)]);
    // the typing indicator stopped once the first words were up
    expect(telegram.chatActions.filter((a) => a.chatId === chatId && a.at > first!.at + TOLERANCE_MS)).toEqual([]);
  });

  it('Discord: the first message goes up while the model writes, then is edited in place (PATCH), at most once a second, to exactly the answer', async () => {
    const dm = discordDm('444444444444444401');
    const asked = discord.userSays({ channelId: dm.id, content: 'tell me slowly, on Discord [slow]' });
    await delivered(discordInbound(asked));

    expect(discordTexts(dm.id)).toEqual([SLOW_TEXT]);
    const [first, ...others] = discordRequests(dm.id, 'POST');
    expect(others).toEqual([]);
    const firstText = String((first!.body as { content: string }).content);
    expect(firstText.length).toBeLessThan(SLOW_TEXT.length);
    expect(SLOW_TEXT.startsWith(firstText)).toBe(true);
    expect(first!.at - llmRequestFor('tell me slowly, on Discord [slow]').at).toBeLessThan(2_500);

    const edits = discordRequests(dm.id, 'PATCH');
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(new Set(edits.map((e) => e.path))).toEqual(new Set([`/channels/${dm.id}/messages/${discord.sentMessages(dm.id)[0]!.id}`]));
    expect((edits.at(-1)!.body as { content: string }).content).toBe(SLOW_TEXT);
    expectSpaced([first!.at, ...edits.map((e) => e.at)]);
  });

  it('a reply longer than one message continues in the next message while it is written, on both platforms', async () => {
    const chatId = 8102;
    const dm = discordDm('444444444444444402');
    const askedTelegram = telegram.userSays({ chatId, text: 'a long one [long]' });
    const askedDiscord = discord.userSays({ channelId: dm.id, content: 'a long one [long]' });
    await Promise.all([delivered(telegramInbound(chatId, askedTelegram.message_id)), delivered(discordInbound(askedDiscord))]);

    streamedLong.telegram = telegramTexts(chatId).map(String);
    streamedLong.discord = discordTexts(dm.id);
    expect(streamedLong.telegram).toHaveLength(2);
    expect(streamedLong.discord).toHaveLength(3);
    // together they are the whole answer, cut only at paragraph breaks
    expect(streamedLong.telegram.join('\n\n')).toBe(LONG_TEXT);
    expect(streamedLong.discord.join('\n\n')).toBe(LONG_TEXT);
    // one message per chunk, no more; edits in place, spaced per chat
    expect(telegramSends(chatId)).toHaveLength(2);
    expect(discordRequests(dm.id, 'POST')).toHaveLength(3);
    expectSpaced(telegram.edits.filter((e) => e.chatId === chatId).map((e) => e.at));
    expectSpaced(discordRequests(dm.id, 'PATCH').map((e) => e.at));
  });

  it('an instant answer goes out as one message, with no edits', async () => {
    const chatId = 8103;
    const dm = discordDm('444444444444444403');
    const askedTelegram = telegram.userSays({ chatId, text: 'quick' });
    const askedDiscord = discord.userSays({ channelId: dm.id, content: 'quick' });
    await Promise.all([delivered(telegramInbound(chatId, askedTelegram.message_id)), delivered(discordInbound(askedDiscord))]);
    expect(telegramTexts(chatId)).toEqual(['echo: quick']);
    expect(telegramSends(chatId)).toHaveLength(1);
    expect(telegram.edits.filter((e) => e.chatId === chatId)).toEqual([]);
    expect(discordTexts(dm.id)).toEqual(['echo: quick']);
    expect(discord.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${dm.id}/`))).toEqual([]);
  });

  it('a stream cut in the middle ends with what arrived and a note, not a stuck message; the turn is remembered', async () => {
    const chatId = 8104;
    const asked = telegram.userSays({ chatId, text: 'this will break [cut]' });
    await delivered(telegramInbound(chatId, asked.message_id));
    const [shown] = telegramTexts(chatId) as string[];
    expect(shown!.endsWith(CUT_OFF_NOTE)).toBe(true);
    const partial = shown!.slice(0, -CUT_OFF_NOTE.length);
    expect(CUT_TEXT.startsWith(partial) && partial.length > CUT_TEXT.length / 2 && partial.length < CUT_TEXT.length).toBe(true);
    expect(telegram.botMessages(chatId)).toHaveLength(1); // the draft message became the answer
    expect(llm.requests.filter((r) => r.messages.at(-1)?.content === 'this will break [cut]')).toHaveLength(1); // not asked again

    telegram.userSays({ chatId, text: 'what did you say?' });
    await waitFor(() => telegram.botMessages(chatId).length === 2, 10_000, 'the answer to the follow-up');
    expect(llmRequestFor('what did you say?').messages.slice(-2)).toEqual([
      { role: 'assistant', content: shown },
      { role: 'user', content: 'what did you say?' },
    ]);
  });

  it('with llm.stream false: no streaming request, one message per chunk, no edits, and the same chunks as the streamed answer', async () => {
    expect(streamedLong.telegram).toBeDefined();
    await daemon.kill('SIGTERM'); // a graceful stop confirms Telegram updates, so the next daemon does not see them again
    await daemon.dispose();
    daemon = await startDaemon({ stream: false });
    const chatId = 8105;
    const dm = discordDm('444444444444444405');
    const requestsBefore = llm.requests.length;
    const askedTelegram = telegram.userSays({ chatId, text: 'the long one again [long]' });
    const askedDiscord = discord.userSays({ channelId: dm.id, content: 'the long one again [long]' });
    await Promise.all([delivered(telegramInbound(chatId, askedTelegram.message_id)), delivered(discordInbound(askedDiscord))]);

    expect(llm.requests.slice(requestsBefore).map((r) => r.stream)).toEqual([false, false]);
    expect(telegramTexts(chatId)).toEqual(streamedLong.telegram);
    expect(discordTexts(dm.id)).toEqual(streamedLong.discord);
    expect(telegram.edits.filter((e) => e.chatId === chatId)).toEqual([]);
    expect(discord.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${dm.id}/`))).toEqual([]);
  });
});
