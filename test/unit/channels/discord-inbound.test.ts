import { describe, expect, it } from 'vitest';
import { closeCodeInError, fatalCloseMessage, startError, toChannelError } from '../../../src/channels/discord/errors.ts';
import { attachmentFile, decideInbound, discordEventId, discordSessionId, stripMention, type DiscordInbound } from '../../../src/channels/discord/inbound.ts';
import { createMessageBody, messageNonce } from '../../../src/channels/discord/outbound.ts';

const BOT = '100000000000000001';
const ALICE = '200000000000000002';
const BOB = '300000000000000003';
/** The access decision decideInbound is given: everyone, or only these user ids. */
const EVERYONE = () => true;
const only = (...ids: string[]) => (userId: string) => ids.includes(userId);

function guild(fields: Partial<DiscordInbound> = {}): DiscordInbound {
  return {
    id: '900000000000000009', channelId: '400000000000000004', guildId: '500000000000000005', authorId: ALICE, authorIsBot: false,
    type: 0, content: 'hello', attachments: 0, files: [], mentionsBot: false, repliesToBot: false, ...fields,
  };
}

const dm = (fields: Partial<DiscordInbound> = {}) => guild({ guildId: null, ...fields });
const mention = (content: string, fields: Partial<DiscordInbound> = {}) => guild({ content, mentionsBot: true, ...fields });

describe('decideInbound', () => {
  it('answers every DM from an allowed user', () => {
    expect(decideInbound(dm({ content: 'hi there' }), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'hi there' });
    expect(decideInbound(dm(), BOT, only(ALICE))).toEqual({ action: 'answer', content: 'hello' });
  });

  it('in a guild answers only a mention (stripped) or a reply to the bot', () => {
    expect(decideInbound(guild(), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
    expect(decideInbound(mention(`<@${BOT}> what is 2+2?`), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'what is 2+2?' });
    expect(decideInbound(mention(`<@!${BOT}>, hi`), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'hi' });
    expect(decideInbound(mention(`so <@${BOT}> says`), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'so says' });
    expect(decideInbound(guild({ type: 19, repliesToBot: true, content: 'and then?' }), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'and then?' });
  });

  it('does not take the ping of a reply to someone else, or the name in text alone, for a mention', () => {
    // a reply to the bot's message pings it, but a reply to alice that pings the bot without naming it is not a mention
    expect(decideInbound(guild({ type: 19, mentionsBot: true, content: 'I agree' }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
    // `<@id>` in the text, but Discord did not resolve it as a mention (e.g. inside an edit we never saw)
    expect(decideInbound(guild({ content: `<@${BOT}> hi` }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
    expect(decideInbound(mention(`<@${BOB}> hi`), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
  });

  it('ignores @everyone / @here without an explicit mention', () => {
    expect(decideInbound(guild({ content: '@everyone standup!' }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
    expect(decideInbound(guild({ content: '@here lunch' }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'not-addressed' });
  });

  it("ignores its own and other bots' messages, even in DMs and with a mention", () => {
    expect(decideInbound(dm({ authorId: BOT }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'own' });
    expect(decideInbound(mention(`<@${BOT}> hi`, { authorId: BOB, authorIsBot: true }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'bot' });
    expect(decideInbound(dm({ authorIsBot: true }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'bot' });
  });

  it('ignores system messages (joins, pins, thread starters)', () => {
    for (const type of [1, 6, 7, 18, 21]) expect(decideInbound(dm({ type }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'system' });
    expect(decideInbound(dm({ type: 19 }), BOT, EVERYONE).action).toBe('answer');
  });

  it('refuses a stranger before anything else costs: only once addressed', () => {
    expect(decideInbound(mention(`<@${BOT}> hi`, { authorId: BOB }), BOT, only(ALICE))).toEqual({ action: 'refuse' });
    expect(decideInbound(dm({ authorId: BOB }), BOT, only(ALICE))).toEqual({ action: 'refuse' });
    // a stranger chatting among humans is none of the bot's business
    expect(decideInbound(guild({ authorId: BOB }), BOT, only(ALICE))).toEqual({ action: 'ignore', reason: 'not-addressed' });
  });

  it('answers sticker-only messages with the text-only notice, ignores truly empty ones', () => {
    expect(decideInbound(dm({ content: '', attachments: 1 }), BOT, EVERYONE)).toEqual({ action: 'text-only' });
    expect(decideInbound(mention(`<@${BOT}>`, { attachments: 2 }), BOT, EVERYONE)).toEqual({ action: 'text-only' });
    expect(decideInbound(dm({ content: '   ' }), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'empty' });
    expect(decideInbound(mention(`<@${BOT}>`), BOT, EVERYONE)).toEqual({ action: 'ignore', reason: 'empty' });
    expect(decideInbound(dm({ content: 'look at this', attachments: 1 }), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'look at this' });
  });

  it('answers attachments, with or without text, and carries them as files', () => {
    const photo = attachmentFile({ id: '7', name: 'cat.png', contentType: 'image/png', size: 2048, url: 'https://cdn.discordapp.com/attachments/1/7/cat.png?ex=1' }, 0);
    expect(photo).toEqual({ kind: 'image', fileId: '7', name: 'cat.png', mime: 'image/png', size: 2048, url: 'https://cdn.discordapp.com/attachments/1/7/cat.png?ex=1' });
    expect(decideInbound(dm({ content: '', files: [photo] }), BOT, EVERYONE)).toEqual({ action: 'answer', content: '', files: [photo] });
    expect(decideInbound(mention(`<@${BOT}> what is this?`, { files: [photo] }), BOT, EVERYONE)).toEqual({ action: 'answer', content: 'what is this?', files: [photo] });
    const voice = { id: '8', name: 'voice-message.ogg', contentType: 'audio/ogg', size: 9000, url: 'https://cdn.discordapp.com/v.ogg' };
    expect(attachmentFile(voice, 1 << 13).kind).toBe('voice');
    expect(attachmentFile(voice, 0).kind).toBe('audio');
    expect(attachmentFile({ ...voice, name: 'notes.md', contentType: 'text/markdown; charset=utf-8' }, 0)).toMatchObject({ kind: 'document', mime: 'text/markdown' });
    expect(attachmentFile({ ...voice, name: 'blob', contentType: null }, 0)).not.toHaveProperty('mime');
  });

  it('keeps emoji, ZWJ sequences, RTL text and other mentions as they are', () => {
    const text = 'שלום 👩‍👩‍👧 <@300000000000000003> 🇫🇷';
    expect(decideInbound(mention(`<@${BOT}> ${text}`), BOT, EVERYONE)).toEqual({ action: 'answer', content: text });
  });
});

describe('stripMention', () => {
  it('keeps line breaks and code blocks intact', () => {
    expect(stripMention(`<@${BOT}>\n\`\`\`js\n  x()\n\`\`\``, BOT)).toBe('```js\n  x()\n```');
    expect(stripMention(`fix this <@${BOT}>:\nline`, BOT)).toBe('fix this :\nline');
  });
});

describe('ids', () => {
  it('derives one event id per message and one session per channel (a thread is a channel)', () => {
    expect(discordEventId('42', '7')).toBe('discord:42:7');
    expect(discordSessionId('42')).toBe('discord:42');
  });
});

describe('outgoing messages', () => {
  it('makes a stable nonce of at most 25 characters per reply chunk', () => {
    const nonce = messageNonce('discord:1:2:reply', 0);
    expect(nonce).toHaveLength(25);
    expect(messageNonce('discord:1:2:reply', 0)).toBe(nonce);
    expect(messageNonce('discord:1:2:reply', 1)).not.toBe(nonce);
    expect(messageNonce('discord:1:3:reply', 0)).not.toBe(nonce);
  });

  it('quotes the user message on the first chunk, never pings, neutralizes @everyone', () => {
    const target = { channel: 'discord', chatId: '42', messageId: '7' };
    expect(createMessageBody('hi @everyone', target, 'n', true)).toEqual({
      content: 'hi @\u200beveryone',
      allowed_mentions: { parse: [], replied_user: false },
      message_reference: { message_id: '7', channel_id: '42', fail_if_not_exists: false },
      nonce: 'n',
      enforce_nonce: true,
    });
    expect(createMessageBody('more', target, 'n', false)).not.toHaveProperty('message_reference');
  });
});

describe('close codes', () => {
  it('says what to fix for a missing intent or a bad token; nothing for codes a reconnect can handle', () => {
    expect(fatalCloseMessage(4014)).toContain('Developer Portal → your application → Bot → Privileged Gateway Intents → Message Content Intent');
    expect(fatalCloseMessage(4004)).toBe(
      'channels.discord.bot_token (or DISCORD_BOT_TOKEN) was rejected by Discord: reset the token in the Developer Portal and update the config',
    );
    expect(fatalCloseMessage(1006)).toBeUndefined();
    expect(fatalCloseMessage(4000)).toBeUndefined();
    expect(closeCodeInError('Used disallowed intents')).toBe(4014);
    expect(closeCodeInError('An invalid token was provided.')).toBe(4004);
    expect(closeCodeInError('connect ECONNREFUSED')).toBeUndefined();
    expect(closeCodeInError(Object.assign(new Error('An invalid token was provided.'), { code: 'TokenInvalid' }))).toBe(4004);
  });

  it('points a bot Discord turns away for its shard count (4010, 4011) at channels.discord.shards', () => {
    expect(closeCodeInError(new Error('Sharding is required'))).toBe(4011);
    expect(closeCodeInError(new Error('Invalid shard'))).toBe(4010);
    expect(startError(new Error('Sharding is required'), 'http://x')).toMatchObject({ fatal: true, retryable: false, message: expect.stringContaining('set shards: auto (or a larger number)') });
    expect(fatalCloseMessage(4010)).toContain('channels.discord.shards');
    expect(fatalCloseMessage(4010)).not.toContain('one shard');
  });

  it('makes start failures fatal only when the owner has to fix something', () => {
    expect(startError(new Error('Used disallowed intents'), 'http://x')).toMatchObject({ fatal: true, retryable: false });
    expect(startError(new Error('connect ECONNREFUSED 127.0.0.1:1'), 'http://x')).toMatchObject({
      fatal: false,
      retryable: true,
      message: 'could not connect to Discord at http://x (channels.discord.api_base): connect ECONNREFUSED 127.0.0.1:1',
    });
  });
});

describe('REST failures', () => {
  const apiError = (status: number, code: number, message: string) => Object.assign(new Error(message), { name: `DiscordAPIError[${code}]`, status, code });

  it('retries rate limits, 5xx and the network; not other 4xx', () => {
    expect(toChannelError(apiError(500, 0, 'Internal Server Error'), 'send').retryable).toBe(true);
    expect(toChannelError(Object.assign(new Error('Service Unavailable'), { name: 'HTTPError', status: 503 }), 'send').retryable).toBe(true);
    expect(toChannelError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'send').retryable).toBe(true);
    const denied = toChannelError(apiError(403, 50013, 'Missing Permissions'), 'send a message in channel 42');
    expect(denied.retryable).toBe(false);
    expect(denied.message).toBe(
      'Discord refused to send a message in channel 42: 403 50013 Missing Permissions: give the bot View Channel, Send Messages and Send Messages in Threads in that channel',
    );
    expect(toChannelError(apiError(400, 50035, 'Invalid Form Body'), 'send').retryable).toBe(false);
  });
});
