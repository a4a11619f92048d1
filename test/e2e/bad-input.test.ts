import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEXT_ONLY_TEXT } from '../../src/channels/access.ts';
import { FakeDiscord, type FakeMessage as DiscordMessage } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { chatRequests } from '../helpers/llm-requests.ts';
import { waitFor } from '../helpers/wait.ts';

interface CorpusMessage {
  name: string;
  text?: string;
  repeat?: [string, number];
  expect: 'answer' | 'none' | 'none-in-telegram-private';
  /** false: answered without the LLM (a command). */
  llm?: boolean;
}
const CORPUS: CorpusMessage[] = JSON.parse(readFileSync(join(PROJECT_ROOT, 'test', 'corpus', 'messages.json'), 'utf8')).messages;
const textOf = (m: CorpusMessage, mention: string): string => (m.repeat ? m.repeat[0].repeat(m.repeat[1]) : m.text!).replaceAll('{mention}', mention);

/** Where a corpus message is sent; each Telegram one in chats of its own, Discord in a DM each and the shared guild channel. */
type Surface = 'telegram-private' | 'telegram-group' | 'discord-dm' | 'discord-guild';
/**
 * What the echoing fake LLM answered, one entry per user message: messages queued while the agent
 * answered reach it as one turn, one echo of all of them a blank line apart.
 */
const answered = (replies: string[]): string[] =>
  replies.flatMap((r) => (r.startsWith('echo: ') ? r.slice('echo: '.length).split('\n\n') : [r])).map((r) => r.replace(/^\[The user sent an image, saved as inbox\/[^\]]+\]$/, '[image]'));
const answers = (m: CorpusMessage, surface: Surface) => m.expect === 'answer' || (m.expect === 'none-in-telegram-private' && surface !== 'telegram-private');

/**
 * The bad-input corpus (test/corpus/messages.json), and platform events a bot rarely sees (edits,
 * stickers, photos, replies to deleted messages, system and unknown messages), through both
 * platforms into the real daemon: no crash, every message answered once or deliberately ignored,
 * ignored ones cost no LLM call, and nothing the user wrote is rendered as markup or pings anyone.
 */
describe('bad input through Telegram and Discord', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  const groupOf = (i: number) => -1_006_000_000_000 - i;
  const sent: Array<{ surface: Surface; message: CorpusMessage; at: () => number }> = [];

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start({ heartbeatIntervalMs: 1_000 }), FakeOpenAI.start()]);
    // long input gets a short answer: the corpus is about what comes in; short input is echoed, to see how it goes out
    llm.setResponder((req) => {
      const content = req.messages.at(-1)?.content;
      const text = Array.isArray(content) ? content.map((p) => (p.type === 'text' ? p.text : '')).join('') : String(content ?? '');
      return { content: text.length > 300 ? `got ${text.length} characters` : `echo: ${text}` };
    });
    daemon = await Daemon.start({ config: fakesConfig({ llm, telegram, discord }) });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  const discordReplies = (to: DiscordMessage) => discord.sentMessages(to.channel_id).filter((m) => m.message_reference?.message_id === to.id);

  it('every corpus message is answered once or ignored on purpose, on both platforms; nothing crashes', async () => {
    const tgMention = `@${telegram.bot.username}`;
    const dcMention = `<@${discord.botUser.id}>`;
    const guild: Array<{ message: CorpusMessage; sent: DiscordMessage }> = [];
    CORPUS.forEach((message, i) => {
      telegram.userSays({ chatId: 8000 + i, text: textOf(message, tgMention) });
      telegram.userSays({ chatId: groupOf(i), chatType: 'supergroup', userId: 8500 + i, mention: true, text: textOf(message, tgMention) });
      const dm = discord.dmChannelFor(discord.nextId(), `corpus${i}`);
      discord.userSays({ channelId: dm.id, content: textOf(message, dcMention) });
      // a member each: one user's messages queued in one channel would be answered as one turn
      guild.push({ message, sent: discord.userSays({ userId: discord.nextId(), content: textOf(message, dcMention), mentionBot: true }) });
      sent.push(
        { surface: 'telegram-private', message, at: () => telegram.botMessages(8000 + i).length },
        { surface: 'telegram-group', message, at: () => telegram.botMessages(groupOf(i)).length },
        { surface: 'discord-dm', message, at: () => discord.sentMessages(dm.id).length },
        { surface: 'discord-guild', message, at: () => discordReplies(guild[i]!.sent).length },
      );
    });
    const expected = sent.filter((s) => answers(s.message, s.surface));
    await waitFor(() => expected.every((s) => s.at() >= 1), 30_000, 'an answer to every corpus message that gets one');
    // a last message on each platform: once it is answered, every message before it was decided
    telegram.userSays({ chatId: 8999, text: 'canary' });
    const canary = discord.userSays({ content: 'canary', mentionBot: true });
    await waitFor(() => telegram.botMessages(8999).length === 1 && discordReplies(canary).length === 1, 10_000, 'the canaries');

    const wrong = sent.filter((s) => s.at() !== (answers(s.message, s.surface) ? 1 : 0)).map((s) => `${s.surface} "${s.message.name}": ${s.at()} replies`);
    expect(wrong).toEqual([]);
    expect(daemon.exitCode).toBeUndefined();
    expect(daemon.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    // what was ignored cost nothing: only answered messages reached the LLM (beside summaries of the long shared guild channel)
    expect(chatRequests(llm.requests).length).toBe(expected.filter((s) => s.message.llm !== false).length + 2);
    const all = [...telegram.botMessages().map((m) => m.text ?? ''), ...discord.sentMessages().map((m) => m.content)];
    expect(all.filter((t) => t.startsWith('Sorry'))).toEqual([]);
  });

  it('markup and mass mentions in what users wrote are shown as text, never rendered or pinging', () => {
    const html = CORPUS.findIndex((m) => m.name === 'HTML injection');
    const [reply] = telegram.botMessages(8000 + html);
    expect(reply!.text).toContain('<b>bold</b>');
    expect(reply!.text).toContain('<script>alert(1)</script>');
    expect((reply!.entities ?? []).filter((e) => e.type !== 'code' && e.type !== 'pre')).toEqual([]);
    const everyone = discord.sentMessages().find((m) => m.content.includes('everyone'))!;
    expect(everyone.content).not.toMatch(/(^|[^\u200b])@everyone/);
    expect(everyone.mention_everyone).toBe(false);
    expect(everyone.mentions).toEqual([]);
    expect(everyone.allowed_mentions).toEqual({ parse: [], replied_user: false });
  });

  it('Telegram: edits, stickers, photos, replies to deleted messages, unknown updates and fields', async () => {
    const chatId = 8800;
    const calls = llm.requests.length;
    const first = telegram.userSays({ chatId, text: 'original' });
    await waitFor(() => telegram.botMessages(chatId).length === 1, 10_000, 'the first answer');
    telegram.userSays({ chatId, messageId: first.message_id, edited: true, text: 'edited: answer me again' });
    telegram.userSays({ chatId, sticker: true });
    telegram.userSays({ chatId, photo: true });
    telegram.userSays({ chatId, photo: true, caption: 'what is in this picture?' });
    const deleted = { message_id: 999_999, date: 0, chat: first.chat, from: first.from, text: 'this one was deleted' };
    telegram.userSays({ chatId, text: 'about the deleted one', replyToMessage: deleted });
    telegram.sendUpdate({ some_future_update: { id: 1, text: 'from a newer Bot API' } });
    telegram.sendUpdate({ message: { ...first, message_id: 5000, text: undefined, future_field: { x: 1 } } as never });
    telegram.sendUpdate({ message: { ...first, message_id: 5001, text: 'odd entities', entities: [{ type: 'future_entity', offset: 0, length: 99 }] } });
    telegram.sendUpdate({ channel_post: { ...first, message_id: 5002, chat: { id: -1_009, type: 'channel' } as never } });
    telegram.userSays({ chatId, text: 'last' });
    await waitFor(() => telegram.botMessages(chatId).some((m) => m.text?.endsWith('last')), 10_000, 'the last answer');
    expect(answered(telegram.botMessages(chatId).map((m) => m.text ?? ''))).toEqual([
      'original',
      TEXT_ONLY_TEXT,
      '[image]',
      'what is in this picture?',
      '[image]',
      'about the deleted one',
      'odd entities',
      'last',
    ]);
    expect(llm.requests.length - calls).toBeLessThanOrEqual(6);
    expect(daemon.exitCode).toBeUndefined();
  });

  it('Discord: edits, images without text, system and unknown message types, replies to deleted messages, unknown events', async () => {
    const dm = discord.dmChannelFor(discord.nextId(), 'events');
    const calls = llm.requests.length;
    const first = discord.userSays({ channelId: dm.id, content: 'original' });
    await waitFor(() => discord.sentMessages(dm.id).length === 1, 10_000, 'the first answer');
    discord.announceEdit({ ...first, content: 'edited: answer me again', edited_timestamp: new Date().toISOString() });
    discord.userSays({ channelId: dm.id, content: '', attachments: 2 });
    discord.userSays({ channelId: dm.id, content: 'joined', type: 7 });
    discord.userSays({ channelId: dm.id, content: 'from the future', type: 99 });
    const user = discord.userFor(dm.recipients![0]!.id);
    discord.postMessage(
      discord.composeMessage(dm, user, { content: 'about the deleted one', type: 19, message_reference: { type: 0, message_id: '1', channel_id: dm.id }, referenced_message: null }),
    );
    discord.gateway.dispatch('SOME_FUTURE_EVENT', { id: '1', what: 'a newer gateway' });
    discord.userSays({ channelId: dm.id, content: 'last' });
    await waitFor(() => discord.sentMessages(dm.id).some((m) => m.content.endsWith('last')), 10_000, 'the last answer');
    expect(answered(discord.sentMessages(dm.id).map((m) => m.content))).toEqual(['original', '[image]', '[image]', 'about the deleted one', 'last']);
    expect(llm.requests.length - calls).toBeLessThanOrEqual(4);
    expect(daemon.exitCode).toBeUndefined();
  });
});

describe('malformed config files at start-up: the daemon exits 1 with one line that names the file and what is wrong', () => {
  const corpusFile = (name: string) => readFileSync(join(PROJECT_ROOT, 'test', 'corpus', 'config', name), 'utf8');
  it.each([
    ['an alias bomb', () => corpusFile('alias-bomb.yaml'), /^mybot: \S+config\.user\.yaml: invalid YAML: Excessive alias count/],
    ['tabs', () => corpusFile('tabs.yaml'), /^mybot: \S+config\.user\.yaml: invalid YAML \(line 2, column 1\): Tabs are not allowed as indentation$/],
    ['a 10 MB file', () => `llm: {}\n# ${'x'.repeat(10 * 1024 * 1024)}\n`, /^mybot: \S+config\.user\.yaml: file is larger than 1 MB; is it the right file\?$/],
  ])('%s', async (_name, text, line) => {
    const daemon = Daemon.spawn({ config: {}, files: { 'config.user.yaml': text() } });
    expect(await daemon.waitForExit()).toBe(1);
    const plain = daemon.output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(line);
    await daemon.dispose();
  });
});
