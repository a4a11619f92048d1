import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  Partials,
  type Message,
  type TextChannel,
} from 'discord.js';
import { FakeDiscord, type FakeDiscordOptions } from './discord.ts';
import { waitFor } from '../helpers/wait.ts';

const ALL_INTENTS = [
  GatewayIntentBits.Guilds,
  GatewayIntentBits.GuildMessages,
  GatewayIntentBits.MessageContent,
  GatewayIntentBits.DirectMessages,
];
const MESSAGES_ROUTE = { method: 'POST', path: /^\/channels\/\d+\/messages$/ };

let fake: FakeDiscord;
let clients: Client[] = [];

async function startFake(opts: FakeDiscordOptions = {}): Promise<void> {
  await fake?.close();
  fake = await FakeDiscord.start({ heartbeatIntervalMs: 500, ...opts });
}

function newClient(intents: number[] = ALL_INTENTS): Client {
  const client = new Client({ intents, partials: [Partials.Channel], rest: { api: fake.apiBase } });
  clients.push(client);
  return client;
}

/** A logged-in client plus every message it received from others, in order. */
async function connect(intents?: number[]): Promise<{ client: Client<true>; received: Message[] }> {
  const client = newClient(intents);
  const received: Message[] = [];
  let ready = false;
  client.once(Events.ClientReady, () => (ready = true));
  client.on(Events.MessageCreate, (m) => {
    if (m.author.id !== client.user?.id) received.push(m);
  });
  await client.login(fake.token);
  await waitFor(() => ready, 10_000, 'ClientReady');
  return { client: client as Client<true>, received };
}

function textChannel(client: Client): TextChannel {
  return client.channels.cache.get(fake.textChannelId) as TextChannel;
}

beforeEach(async () => {
  await startFake();
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  clients = [];
  await fake.close();
});

describe('FakeDiscord with the real discord.js client', () => {
  it('logs in: GET /gateway/bot, IDENTIFY, READY + GUILD_CREATE, ClientReady with the guild cached', async () => {
    const { client } = await connect();
    expect(client.user.id).toBe(fake.botUser.id);
    expect(client.guilds.cache.get(fake.guildId)?.available).toBe(true);
    expect(textChannel(client).type).toBe(ChannelType.GuildText);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /gateway/bot']);
    expect(fake.identifyCount).toBe(1);
    expect(fake.gateway.identifies[0]?.intents).toBe(1 | (1 << 9) | (1 << 12) | (1 << 15));
    await waitFor(() => fake.gateway.heartbeats > 0, 5_000, 'a heartbeat');
    await waitFor(() => client.ws.ping >= 0, 5_000, 'a heartbeat ACK');
  });

  it('rejects a wrong token on REST (401) so login fails', async () => {
    const client = newClient();
    await expect(client.login('not-the-token')).rejects.toThrow(/token/i);
    expect(fake.requests[0]?.status).toBe(401);
  });

  it('delivers a guild message that mentions the bot', async () => {
    const { client, received } = await connect();
    const sent = fake.userSays({ content: 'hello bot', mentionBot: true, username: 'alice' });
    const message = await waitFor(() => received.find((m) => m.id === sent.id), 5_000, 'the guild message');
    expect(message.content).toBe(`<@${fake.botUser.id}> hello bot`);
    expect(message.mentions.users.has(client.user.id)).toBe(true);
    expect(message.guildId).toBe(fake.guildId);
    expect(message.author.username).toBe('alice');
    expect(message.member).not.toBeNull();
  });

  it('delivers a DM with Partials.Channel', async () => {
    const { received } = await connect();
    const dm = fake.dmChannelFor('222222222222222222', 'bob');
    fake.userSays({ channelId: dm.id, content: 'psst' });
    const message = await waitFor(() => received.find((m) => m.content === 'psst'), 5_000, 'the DM');
    expect(message.channel.type).toBe(ChannelType.DM);
    expect(message.guildId).toBeNull();
    expect(message.author.id).toBe('222222222222222222');
    await message.reply('hi bob');
    expect(fake.sentMessages(dm.id).map((m) => m.content)).toEqual(['hi bob']);
  });

  it('delivers thread messages once the thread is announced', async () => {
    const { client, received } = await connect();
    const thread = fake.addThread(fake.textChannelId, 'topic');
    await waitFor(() => client.channels.cache.get(thread.id), 5_000, 'THREAD_CREATE');
    fake.userSays({ channelId: thread.id, content: 'in thread' });
    const message = await waitFor(() => received.find((m) => m.content === 'in thread'), 5_000, 'the thread message');
    expect(message.channel.isThread() && message.channel.parentId).toBe(fake.textChannelId);
  });

  it('records send, reply (message_reference), typing and edit; echoes bot messages on the gateway', async () => {
    const { client, received } = await connect();
    const echoes: Message[] = [];
    client.on(Events.MessageCreate, (m) => m.author.id === client.user.id && echoes.push(m));
    fake.userSays({ content: 'ping', mentionBot: true });
    const ping = await waitFor(() => received[0], 5_000, 'ping');
    await textChannel(client).sendTyping();
    const reply = await ping.reply('pong');
    const plain = await textChannel(client).send('plain');
    await reply.edit('pong (edited)');

    const sent = fake.sentMessages(fake.textChannelId);
    expect(sent.map((m) => m.content)).toEqual(['pong (edited)', 'plain']);
    expect(sent[0]?.type).toBe(19);
    expect(sent[0]?.message_reference?.message_id).toBe(ping.id);
    expect(sent[0]?.mentions.map((u) => u.id)).toEqual([fake.user.id]);
    expect(sent[1]?.message_reference).toBeUndefined();
    expect(fake.typingCalls.map((t) => t.channelId)).toEqual([fake.textChannelId]);
    expect(plain.id).toBe(sent[1]?.id);
    await waitFor(() => echoes.length === 2, 5_000, 'both echoes');
    expect(fake.messages(fake.textChannelId).map((m) => m.content)).toEqual([`<@${fake.botUser.id}> ping`, 'pong (edited)', 'plain']);
  });

  it('deletes the bot\'s own message (204, MESSAGE_DELETE) and refuses to delete a user\'s (403 50013)', async () => {
    const { client } = await connect();
    const deleted: string[] = [];
    client.on(Events.MessageDelete, (m) => deleted.push(m.id));
    const mine = await textChannel(client).send('short-lived');
    await mine.delete();
    expect(fake.sentMessages(fake.textChannelId).map((m) => m.id)).not.toContain(mine.id);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    await waitFor(() => deleted.includes(mine.id), 5_000, 'MESSAGE_DELETE');
    const theirs = fake.userSays({ content: 'mine, not yours' });
    await expect(client.rest.delete(`/channels/${fake.textChannelId}/messages/${theirs.id}`)).rejects.toMatchObject({ status: 403, code: 50013 });
  });

  it('answers 400 for empty and too long messages, 404 for unknown channels', async () => {
    const { client } = await connect();
    const channel = textChannel(client);
    await expect(channel.send('x'.repeat(2001))).rejects.toMatchObject({ code: 50035, status: 400 });
    await expect(client.rest.post(`/channels/${fake.textChannelId}/messages`, { body: { content: '' } })).rejects.toMatchObject({ code: 50006 });
    await expect(client.channels.fetch('123456789012345678')).rejects.toBeInstanceOf(DiscordAPIError);
    expect(fake.requests.at(-1)?.status).toBe(404);
    expect(fake.sentMessages()).toEqual([]);
  });

  it('pages GET /channels/:id/messages?after= newest first', async () => {
    const { client } = await connect();
    const said = ['one', 'two', 'three', 'four'].map((content) => fake.userSays({ content }));
    const page = await textChannel(client).messages.fetch({ after: said[0]?.id, limit: 2 });
    expect([...page.values()].map((m) => m.content)).toEqual(['three', 'two']);
  });

  it('retries two 429s by itself and creates exactly one message', async () => {
    const { client } = await connect();
    const limited: unknown[] = [];
    client.rest.on('rateLimited', (info) => limited.push(info));
    fake.failNextRest(MESSAGES_ROUTE, 2, { kind: '429', retryAfter: 0.2 });
    await textChannel(client).send('after the storm');
    const posts = fake.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(fake.sentMessages().map((m) => m.content)).toEqual(['after the storm']);
    expect(limited.length).toBeGreaterThan(0);
  });

  it('retries a 500 and a global 429', async () => {
    const { client } = await connect();
    fake.failNextRest(MESSAGES_ROUTE, 1, { kind: '500' });
    fake.failNextRest(MESSAGES_ROUTE, 1, { kind: '429', retryAfter: 0.1, global: true });
    await textChannel(client).send('eventually');
    expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([500, 429, 200]);
    expect(fake.sentMessages()).toHaveLength(1);
  });

  it('collapses a repeated nonce with enforce_nonce, even when the first answer was lost', async () => {
    const { client } = await connect();
    const channel = textChannel(client);
    fake.failNextRest(MESSAGES_ROUTE, 1, { kind: 'drop', afterHandling: true });
    const first = await channel.send({ content: 'once', nonce: 'evt-1:0', enforceNonce: true });
    const again = await channel.send({ content: 'once', nonce: 'evt-1:0', enforceNonce: true });
    expect(again.id).toBe(first.id);
    expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([0, 200, 200]);
    expect(fake.sentMessages().map((m) => m.nonce)).toEqual(['evt-1:0']);
  });

  it('RESUMEs after a dropped socket and replays what was sent meanwhile', async () => {
    const { received } = await connect();
    fake.dropSockets();
    fake.userSays({ content: 'while you were away' });
    await waitFor(() => received.find((m) => m.content === 'while you were away'), 10_000, 'the replayed message');
    expect(fake.resumeCount).toBe(1);
    expect(fake.identifyCount).toBe(1);
    expect(fake.connections).toBe(2);
    fake.userSays({ content: 'after resume' });
    await waitFor(() => received.find((m) => m.content === 'after resume'), 5_000, 'the next message');
  });

  it('RESUMEs on op 7 and re-IDENTIFYs after a non-resumable op 9', async () => {
    const { client, received } = await connect();
    let resumed = false;
    client.on(Events.ShardResume, () => (resumed = true));
    fake.sendReconnect();
    // the client's own RESUMED, not just the fake's count: an op 9 before discord.js handled RESUMED makes it throw
    await waitFor(() => fake.resumeCount === 1 && resumed, 10_000, 'RESUME after op 7');
    fake.sendInvalidSession(false);
    await waitFor(() => fake.identifyCount === 2, 10_000, 'IDENTIFY after op 9');
    fake.userSays({ content: 'still here' });
    await waitFor(() => received.find((m) => m.content === 'still here'), 5_000, 'a message on the new session');
  });

  it('hides the content of unmentioned guild messages without MESSAGE_CONTENT', async () => {
    const { received } = await connect([GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages]);
    fake.userSays({ content: 'secret' });
    fake.userSays({ content: 'for you', mentionBot: true });
    await waitFor(() => received.length === 2, 5_000, 'two messages');
    expect(received.map((m) => m.content)).toEqual(['', `<@${fake.botUser.id}> for you`]);
  });

  it('closes 4014 when MESSAGE_CONTENT is not allowed: login rejects, shardDisconnect fires', async () => {
    await startFake({ disallowMessageContent: true });
    const client = newClient();
    const disconnects: number[] = [];
    client.on(Events.ShardDisconnect, (event) => disconnects.push(event.code));
    await expect(client.login(fake.token)).rejects.toThrow(/disallowed intents/i);
    expect(disconnects).toEqual([4014]);
    expect(fake.identifyCount).toBe(0);
  });

  it('serves the bytes of attachments users send, marks voice messages, and keeps files the bot uploads (10 MB)', async () => {
    const { client, received } = await connect();
    const dm = fake.dmChannelFor(fake.nextId(), 'eve');
    fake.userSays({ channelId: dm.id, content: '', files: [{ name: 'voice-message.ogg', data: Buffer.from('ogg'), contentType: 'audio/ogg', voice: true }] });
    const [message] = await waitFor(() => received.length > 0 && received, 5_000, 'the voice message');
    const attachment = message!.attachments.first()!;
    expect([attachment.name, attachment.contentType, attachment.size, message!.flags.has('IsVoiceMessage')]).toEqual(['voice-message.ogg', 'audio/ogg', 3, true]);
    expect(Buffer.from(await (await fetch(attachment.url)).arrayBuffer()).toString()).toBe('ogg');
    expect(fake.downloads).toHaveLength(1);

    const sent = (await client.rest.post(`/channels/${dm.id}/messages`, { body: { content: 'here' }, files: [{ name: 'data.csv', data: Buffer.from('a,b') }] })) as { attachments: Array<{ url: string }> };
    expect(Buffer.from(await (await fetch(sent.attachments[0]!.url)).arrayBuffer()).toString()).toBe('a,b');
    expect(fake.sentMessages(dm.id).map((m) => [m.content, m.attachments.map((a) => a.filename)])).toEqual([['here', ['data.csv']]]);
    await expect(client.rest.post(`/channels/${dm.id}/messages`, { body: {}, files: [{ name: 'huge.bin', data: Buffer.alloc(11 * 1_048_576) }] })).rejects.toThrow(/too large/i);
  });
});
