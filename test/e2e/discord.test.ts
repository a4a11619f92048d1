import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelType, type FakeMessage } from '../fakes/discord.ts';
import type { FakeRequest } from '../fakes/openai.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { DiscordWorld, fenceCount, MESSAGES_ROUTE } from './discord-setup.ts';

const DM_USER = '222222222222222222';
const STRANGER = '333333333333333333';

describe('the daemon in Discord (fake gateway + REST, fake LLM)', () => {
  let world: DiscordWorld;
  let daemon: Daemon;

  beforeAll(async () => {
    world = await DiscordWorld.start();
    daemon = await Daemon.start({ config: world.config({ allowed_user_ids: [world.discord.user.id, DM_USER] }) });
  });
  afterAll(async () => {
    await world?.close(daemon);
  });

  const said = (content: string, fields: Parameters<DiscordWorld['discord']['userSays']>[0] = { content }) =>
    world.discord.userSays({ ...fields, content });
  const mention = (content: string, channelId?: string) => said(content, { content, mentionBot: true, ...(channelId ? { channelId } : {}) });
  const userTurns = (request: FakeRequest | undefined) => (request?.messages ?? []).filter((m) => m.role === 'user').map((m) => m.content);
  const requestFor = (content: string) => world.llm.requests.find((r) => userTurns(r).at(-1) === content);

  /**
   * Proves `message` costs nothing (more): a control message sent after it in the same channel
   * reaches the daemon after it, and its answer took the only LLM call made meanwhile.
   */
  async function expectIgnored(message: FakeMessage, { replies = 0 } = {}): Promise<void> {
    const before = world.llm.requests.length;
    const control = mention(`control after ${message.id}`, message.channel_id);
    await world.replyTo(control);
    expect(world.llm.requests.length - before).toBe(1);
    expect(world.repliesTo(message)).toHaveLength(replies);
  }

  it('answers a guild mention in that channel, as a reply that pings nobody', async () => {
    const message = mention('hello bot');
    const reply = await world.replyTo(message);
    expect(reply.content).toBe('echo: hello bot');
    expect(reply.channel_id).toBe(world.discord.textChannelId);
    expect(reply.type).toBe(19);
    expect(reply.mentions).toEqual([]);
    expect(reply.allowed_mentions).toEqual({ parse: [], replied_user: false });
    expect(reply.nonce).toMatch(/^[0-9a-f]{25}$/);
    expect(userTurns(requestFor('hello bot'))).toEqual(['hello bot']);
  });

  it('shows typing while the agent takes its time, not for an instant answer', async () => {
    const thread = world.discord.addThread(world.discord.textChannelId, 'typing');
    await world.replyTo(mention('quick one', thread.id));
    world.llm.enqueue({ content: 'thought about it', delayMs: 1_500 });
    const slow = mention('slow one', thread.id);
    const reply = await world.replyTo(slow);
    const typing = world.discord.typingCalls.filter((t) => t.channelId === thread.id);
    expect(typing).toHaveLength(1);
    expect(typing[0]!.at).toBeLessThan(world.discord.requests.find((r) => (r.body as { nonce?: string } | undefined)?.nonce === reply.nonce)!.at);
  });

  it('ignores a guild message without a mention: no reply, no LLM call', async () => {
    await expectIgnored(said('just chatting with friends'));
  });

  it("answers a reply to the bot's message, pinged or not", async () => {
    const first = await world.replyTo(mention('first'));
    const pinged = said('tell me more', { content: 'tell me more', replyToMessageId: first.id });
    expect((await world.replyTo(pinged)).content).toBe('echo: tell me more');
    const quiet = said('and quietly?', { content: 'and quietly?', replyToMessageId: first.id, replyPing: false });
    expect((await world.replyTo(quiet)).content).toBe('echo: and quietly?');
  });

  it('answers a DM', async () => {
    const dm = world.discord.dmChannelFor(DM_USER, 'dana');
    const message = said('hi in private', { content: 'hi in private', channelId: dm.id });
    const reply = await world.replyTo(message);
    expect(reply.content).toBe('echo: hi in private');
    expect(world.discord.channel(reply.channel_id)?.type).toBe(ChannelType.DM);
  });

  it('answers a mention in a thread inside the thread, in a session of its own', async () => {
    await world.replyTo(mention('channel history that must stay out of the thread'));
    const thread = world.discord.addThread(world.discord.textChannelId, 'side topic');
    const reply = await world.replyTo(mention('in the thread', thread.id));
    expect(reply.channel_id).toBe(thread.id);
    expect(world.discord.sentMessages(world.discord.textChannelId).some((m) => m.id === reply.id)).toBe(false);
    const request = requestFor('in the thread');
    expect(userTurns(request)).toEqual(['in the thread']);
    expect(JSON.stringify(request?.messages)).not.toContain('channel history');
  });

  it("refuses a stranger's mention without an LLM call, once per interval", async () => {
    const before = world.llm.requests.length;
    const first = said('let me in', { content: 'let me in', mentionBot: true, userId: STRANGER, username: 'eve' });
    const refusal = await world.replyTo(first);
    expect(refusal.content).toMatch(/allowed_user_ids/);
    const second = said('please?', { content: 'please?', mentionBot: true, userId: STRANGER });
    await expectIgnored(second);
    expect(world.llm.requests.length - before).toBe(1); // the control message only
  });

  it("ignores another bot's message, even one that mentions this bot", async () => {
    await expectIgnored(said('beep', { content: 'beep', mentionBot: true, userId: '444444444444444444', username: 'otherbot', bot: true }));
  });

  it('answers a MESSAGE_CREATE that arrives twice only once', async () => {
    const message = mention('say it once');
    await world.replyTo(message);
    world.discord.gateway.dispatch('MESSAGE_CREATE', message);
    await expectIgnored(message, { replies: 1 });
    expect(world.llm.requests.filter((r) => userTurns(r).at(-1) === 'say it once')).toHaveLength(1);
  });

  it('sends the first turn to the LLM with the second message of a channel', async () => {
    const thread = world.discord.addThread(world.discord.textChannelId, 'memory');
    await world.replyTo(mention('my name is Zed', thread.id));
    await world.replyTo(mention('what is my name?', thread.id));
    const messages = requestFor('what is my name?')?.messages.filter((m) => m.role !== 'system');
    expect(messages).toEqual([
      { role: 'user', content: 'my name is Zed' },
      expect.objectContaining({ role: 'assistant', content: 'echo: my name is Zed' }),
      { role: 'user', content: 'what is my name?' },
    ]);
  });

  it('splits a 5,000-character reply with a code block into ordered chunks of <= 2000 with balanced fences', async () => {
    const code = Array.from({ length: 80 }, (_, i) => `  const line${i} = ${i}; // some code in a block`).join('\n');
    const prose = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: the answer goes on for a while so that it is long.`).join('\n\n');
    const long = `${prose}\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat is all, @everyone.`;
    expect(long.length).toBeGreaterThan(5000);
    world.llm.enqueue({ content: long });
    const thread = world.discord.addThread(world.discord.textChannelId, 'long');
    const message = mention('write a lot', thread.id);
    await daemon.waitForLog('reply delivered', (l) => l['eventId'] === `discord:${thread.id}:${message.id}:reply`);
    const chunks = world.discord.sentMessages(thread.id);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks[0]?.message_reference?.message_id).toBe(message.id);
    for (const chunk of chunks) {
      expect(chunk.content.length).toBeLessThanOrEqual(2000);
      expect(fenceCount(chunk.content) % 2).toBe(0);
    }
    const joined = chunks.map((c) => c.content).join('\n');
    for (const i of [0, 29]) expect(joined).toContain(`Paragraph ${i}:`);
    for (const i of [0, 40, 79]) expect(joined).toContain(`const line${i} = ${i};`);
    expect(joined.indexOf('Paragraph 29')).toBeLessThan(joined.indexOf('const line0 ='));
    expect(joined.indexOf('const line0 =')).toBeLessThan(joined.indexOf('const line79 ='));
    expect(chunks.at(-1)?.content).toContain('That is all, @\u200beveryone.');
  });

  it('delivers exactly once when the next 2 message creations answer 429', async () => {
    world.discord.failNextRest(MESSAGES_ROUTE, 2, { kind: '429', retryAfter: 0.2 });
    const message = mention('through the rate limit');
    await daemon.waitForLog('reply delivered', (l) => l['eventId'] === `discord:${message.channel_id}:${message.id}:reply`);
    expect(world.repliesTo(message).map((m) => m.content)).toEqual(['echo: through the rate limit']);
    expect(world.discord.requests.filter((r) => r.status === 429)).toHaveLength(2);
    await daemon.waitForLog('Discord rate limit: waiting');
  });

  it('shows a reply once when a create took effect but its answer was lost, and was sent again (nonce)', async () => {
    world.discord.failNextRest(MESSAGES_ROUTE, 1, { kind: 'drop', afterHandling: true });
    const message = mention('the answer gets lost');
    await daemon.waitForLog('reply delivered', (l) => l['eventId'] === `discord:${message.channel_id}:${message.id}:reply`);
    expect(world.repliesTo(message).map((m) => m.content)).toEqual(['echo: the answer gets lost']);
    const nonce = world.repliesTo(message)[0]?.nonce;
    expect(world.discord.requests.filter((r) => (r.body as { nonce?: string } | undefined)?.nonce === nonce)).toHaveLength(2);
  });

  it('resumes after the gateway drops the socket mid-conversation: each reply arrives once', async () => {
    const resumes = world.discord.resumeCount;
    const identifies = world.discord.identifyCount;
    world.llm.setLatency(700);
    const before = world.llm.requests.length;
    const slow = mention('answer me while the socket drops');
    await world.llm.waitForRequests(before + 1);
    world.discord.dropSockets();
    // in a session of its own: in the same one it would join the slow turn, which shows nothing yet
    const meanwhile = mention('sent while disconnected', world.discord.addThread(world.discord.textChannelId, 'meanwhile').id);
    await world.replyTo(slow);
    world.llm.setLatency(0);
    await world.replyTo(meanwhile);
    await waitFor(() => world.discord.resumeCount > resumes, 10_000, 'RESUME');
    expect(world.discord.identifyCount).toBe(identifies);
    await expectIgnored(slow, { replies: 1 });
    expect(world.repliesTo(meanwhile)).toHaveLength(1);
    await daemon.waitForLog('gateway session resumed');
  });

  it('survives an empty, a 2000-character, an emoji/ZWJ/RTL and an image-only message', async () => {
    const dm = world.discord.dmChannelFor(DM_USER, 'dana');
    said('', { content: '', channelId: dm.id });
    said('', { content: '', mentionBot: true });
    // one after the other: messages one user sends together are answered as one turn
    const long = mention('x'.repeat(2000 - `<@${world.discord.botUser.id}> `.length));
    expect(long.content).toHaveLength(2000);
    expect((await world.replyTo(long)).content).toMatch(/^echo: x+$/);
    const fancy = mention('שלום 👩‍👩‍👧‍👦 مرحبا 🇫🇷 e\u0301');
    expect((await world.replyTo(fancy)).content).toBe('echo: שלום 👩‍👩‍👧‍👦 مرحبا 🇫🇷 e\u0301');
    const picture = said('', { content: '', channelId: dm.id, attachments: 1 });
    expect((await world.replyTo(picture)).content).toMatch(/^echo: \[The user sent an image, saved as inbox\/discord_\d+\/\d+-0-image-1\.png\]$/);
    expect((await world.replyTo(mention('still there?'))).content).toBe('echo: still there?');
    expect((await world.replyTo(said('and here?', { content: 'and here?', channelId: dm.id }))).content).toBe('echo: and here?');
    expect(daemon.exitCode).toBeUndefined();
  });

  it('never logs the bot token', () => {
    expect(daemon.output.length).toBeGreaterThan(0);
    expect(daemon.output).not.toContain(world.discord.token);
  });
});
