import { describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { cleanUpAfterEach } from '../helpers/cleanup.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { DiscordWorld, MESSAGES_ROUTE } from './discord-setup.ts';

const GROUP = -1_001_777_000_001;
const ALICE = 5_501;

describe('receipts: the ack reaction on a group message addressed to the bot', () => {
  const { daemon: keep, later } = cleanUpAfterEach();

  async function telegramDaemon(telegramKeys: Record<string, unknown> = {}): Promise<{ telegram: FakeTelegram; llm: FakeOpenAI; daemon: Daemon }> {
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    later(() => telegram.close(), () => llm.close());
    const config = fakesConfig({ llm, telegram });
    Object.assign((config.channels as { telegram: Record<string, unknown> }).telegram, telegramKeys);
    const daemon = await Daemon.start({ config });
    keep(daemon);
    return { telegram, llm, daemon };
  }

  it('Telegram: 👀 is set on the message before the reply is sent; none in a private chat', async () => {
    const { telegram } = await telegramDaemon();
    const question = telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'seen?' });
    await waitFor(() => telegram.botMessages(GROUP).length === 1, 10_000, 'the reply');
    const methods = telegram.requests.filter((r) => ['setMessageReaction', 'sendMessage'].includes(r.method)).map((r) => r.method);
    expect(methods).toEqual(['setMessageReaction', 'sendMessage']);
    expect(telegram.reactions).toEqual([expect.objectContaining({ chatId: GROUP, messageId: question.message_id, emojis: ['👀'] })]);

    telegram.userSays({ chatId: ALICE, text: 'private' });
    await waitFor(() => telegram.botMessages(ALICE).length === 1, 10_000, 'the private reply');
    expect(telegram.reactions).toHaveLength(1);
  });

  it('Telegram: a 429 on the reaction does not delay the reply, and the reaction is not tried again', async () => {
    const { telegram, daemon } = await telegramDaemon();
    telegram.failNext('setMessageReaction', 1, { kind: '429', retryAfter: 30 });
    const sent = Date.now();
    telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'busy group' });
    // a reply held back by the 30 s retry_after would miss this deadline by far
    await waitFor(() => telegram.botMessages(GROUP).length === 1, 10_000, 'the reply, without waiting out the 429');
    expect(Date.now() - sent).toBeLessThan(10_000);
    const reactions = telegram.requests.filter((r) => r.method === 'setMessageReaction');
    expect(reactions.map((r) => r.status)).toEqual([429]);
    expect(daemon.hasLog(/pausing sends to this chat/)).toBeUndefined();
    // the next message in the same chat is not held back either
    telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'and again' });
    await waitFor(() => telegram.botMessages(GROUP).length === 2, 10_000, 'the second reply');
  });

  it('Telegram: ack_reaction_clear removes the reaction once the reply shows; ack_reaction "" turns receipts off', async () => {
    const { telegram } = await telegramDaemon({ ack_reaction: '👍', ack_reaction_clear: true });
    telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'clear it' });
    await waitFor(() => telegram.reactions.length === 2, 10_000, 'the reaction set and removed');
    expect(telegram.reactions.map((r) => r.emojis)).toEqual([['👍'], []]);
    const order = telegram.requests.filter((r) => ['setMessageReaction', 'sendMessage'].includes(r.method)).map((r) => `${r.method} ${JSON.stringify(r.params.reaction ?? '')}`);
    expect(order).toEqual([expect.stringMatching(/^setMessageReaction .*👍/), 'sendMessage ""', expect.stringMatching(/^setMessageReaction "?\[\]"?$/)]);

    const off = await telegramDaemon({ ack_reaction: '' });
    off.telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'no receipt' });
    await waitFor(() => off.telegram.botMessages(GROUP).length === 1, 10_000, 'the reply');
    expect(off.telegram.reactions).toEqual([]);
  });

  it('Discord: the reaction is PUT on the message before the reply is posted, a 429 on it is not waited out; none in a DM', async () => {
    const world = await DiscordWorld.start();
    later(() => world.close());
    const daemon = await Daemon.start({ config: world.config() });
    keep(daemon);
    const message = world.discord.userSays({ content: 'seen?', mentionBot: true });
    await world.replyTo(message);
    const calls = world.discord.requests.filter((r) => r.path.includes('/reactions/') || (r.method === MESSAGES_ROUTE.method && MESSAGES_ROUTE.path.test(r.path)));
    expect(calls.map((r) => r.method)).toEqual(['PUT', 'POST']);
    expect(world.discord.reactions).toEqual([expect.objectContaining({ messageId: message.id, emoji: '👀', added: true })]);

    // a 429 on the reaction route: discord.js hands it back instead of waiting 30 s in the bucket, and the reply goes at once
    world.discord.failNextRest({ method: 'PUT', path: /\/reactions\// }, 1, { kind: '429', retryAfter: 30 });
    const second = world.discord.userSays({ content: 'busy server', mentionBot: true });
    await world.replyTo(second, 10_000);
    const puts = world.discord.requests.filter((r) => r.method === 'PUT' && r.path.includes(`/messages/${second.id}/reactions/`));
    expect(puts.map((r) => r.status)).toEqual([429]);

    const dm = world.discord.dmChannelFor('4242', 'bob');
    const direct = world.discord.userSays({ channelId: dm.id, content: 'in private' });
    await waitFor(() => world.discord.sentMessages(dm.id).length === 1, 10_000, 'the DM reply');
    expect(world.discord.reactions.filter((r) => r.messageId === direct.id)).toEqual([]);
  });
});
